"""One `check` from a config path to report files: what every front end runs.

The CLI, the GitHub Action, the pytest plugin and `modelgate.api` all call `run_check` and then
only render; so the same inputs give the same report set (JSON, JUnit, Markdown, trigger
pictures) whichever door a user came in by. A run that cannot decide leaves no report behind,
not even an earlier run's, at every path this run would have written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modelgate.config import Config
from modelgate.engine.candidate import PredictionSource, Stages
from modelgate.errors import OutputError
from modelgate.report.targets import Plan
from modelgate.result import GateResult


@dataclass(frozen=True)
class ReportRequest:
    """Where the reports go, as the front end was asked; unset fields follow the config."""

    enabled: bool = True  # False: no report files at all (`--no-reports`)
    folder: Path | None = None  # instead of the config's `output.dir`
    # format -> path, instead of that format's file in the folder (`--json PATH` ...)
    paths: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckRun:
    """A decided check and the report files it wrote (format -> path)."""

    config: Config
    result: GateResult
    reports: Mapping[str, Path]
    report_dir: Path | None  # the report folder, even when no format was written into it


def load_check_config(config_path: str | Path, candidate: str | Path | None = None) -> Config:
    """The config, with `candidate` (a model file) in place of its `candidate.path`."""
    from modelgate.config import load_config, with_candidate_path

    config = load_config(config_path)
    return with_candidate_path(config, str(candidate)) if candidate else config


def run_check(
    config_path: str | Path,
    *,
    candidate: str | Path | None = None,
    reports: ReportRequest | None = None,
    progress: Stages | None = None,
    today: dt.date | None = None,
    given: PredictionSource | None = None,
) -> CheckRun:
    """Load the config, check the candidate, write the report set; raises a ModelgateError
    (exit 2) when it cannot decide, after removing every report this run would have written.
    `given`: the suite's predictions made elsewhere (`modelgate merge`)."""
    from modelgate.report import DEFAULT_FILENAMES
    from modelgate.report.targets import guess_output, plan_targets

    request = reports or ReportRequest()
    # Known before the config loads, so that even a config error removes the old reports.
    guessed_dir, guessed_formats = guess_output(config_path)
    folder = (request.folder or guessed_dir) if request.enabled else None
    plan = plan_targets(folder, guessed_formats, dict(request.paths))
    # Every format's file in the report folder, whichever formats this run asks for: an earlier
    # run may have written it there, and it must not outlive an undecided run either.
    stale = plan_targets(folder, tuple(DEFAULT_FILENAMES), {}).targets
    try:
        config = load_check_config(config_path, candidate)
        if request.enabled:
            folder = request.folder or config.resolve(config.settings.output.dir)
            plan = plan_targets(folder, tuple(config.settings.output.formats), dict(request.paths))
            stale = plan_targets(folder, tuple(DEFAULT_FILENAMES), {}).targets
        # Gone before the model runs, not only after a failure: a run that never reaches its
        # own handlers (killed for memory, a factory's os._exit) leaves no earlier verdict.
        _discard_all(stale, plan.targets)
        written = _check_and_write(config, plan, progress, today, given)
    except BaseException:
        _discard_all(stale, plan.targets)  # whatever failed: no earlier verdict may pass
        raise
    return CheckRun(config=config, result=written[0], reports=written[1], report_dir=folder)


def _discard_all(stale: dict[str, Path], targets: dict[str, Path]) -> None:
    from modelgate.report.targets import discard

    discard(stale)
    discard(targets)
    _discard_attribution(stale, targets)


def _discard_attribution(*target_sets: dict[str, Path]) -> None:
    """An earlier run's quarantine list must not outlive an undecided run either."""
    from modelgate.attribution.hook import discard_attribution, report_folder

    for targets in target_sets:
        folder = report_folder(targets)
        if folder is not None and folder.is_dir():
            with contextlib.suppress(OSError):  # a path that cannot be read holds nothing
                discard_attribution(folder)


def _check_and_write(
    config: Config,
    plan: Plan,
    progress: Stages | None,
    today: dt.date | None,
    given: PredictionSource | None = None,
) -> tuple[GateResult, dict[str, Path]]:
    from modelgate.engine.check import check_candidate
    from modelgate.report import pictures_dir, write_reports
    from modelgate.report.targets import check_targets, failed_target

    check_targets(plan)
    checked = check_candidate(config, progress=progress, today=today, given=given)
    result = checked.result
    from modelgate.attribution.hook import after_check  # with `training_data:` only

    result = after_check(config, result, checked.suite, checked.triggers, plan.targets)
    pictures = pictures_dir(plan.targets)
    if pictures is not None and checked.triggers is not None:
        from modelgate.probes.pictures import write_pictures

        result = write_pictures(result, checked.triggers, checked.suite, pictures)
    try:
        return result, write_reports(result, plan.targets)
    except OSError as exc:
        path, key = failed_target(plan, exc.filename)
        raise OutputError(
            f"cannot write the report: {exc.strerror or exc}", file=path, key=key
        ) from None
    except ValueError as exc:  # two formats sharing one path
        raise OutputError(str(exc), key="--json/--junit-xml/--markdown") from None
