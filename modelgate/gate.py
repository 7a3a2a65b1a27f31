"""The engine: `run_gate(config) -> GateResult`. Every front end calls this and only renders."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelgate import __version__
from modelgate.analysis.calibration import Calibration
from modelgate.analysis.flips import flip_metrics, flip_table
from modelgate.baseline import BaselineRecord, read_baseline, write_baseline
from modelgate.config import Config
from modelgate.errors import CalibrationError, UsageError
from modelgate.flipped import FlippedCanaries
from modelgate.policy import accuracy_check, alpha_share, budget_checks, verdict_of, waiver_check
from modelgate.predict import Predictions, predict_suite
from modelgate.result import BaselineInfo, Check, GateResult, ModelInfo, SuiteInfo
from modelgate.suite.format import Suite, load_suite
from modelgate.waivers import Waivers, load_waivers, match_waivers

if TYPE_CHECKING:
    from modelgate.probes.results import TriggerRun

Progress = Callable[[int, int], None]
NO_CALIBRATION = (
    "no churn calibration: the churn tests self-calibrate on the pair they judge (far weaker on "
    "small shifts) and trigger probes have no clean-retrain ceiling (more false alarms); run "
    "`modelgate calibrate --control ...` on clean retrains of the baseline's recipe"
)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def suite_info(suite: Suite) -> SuiteInfo:
    m = suite.manifest
    return SuiteInfo(
        name=m.name,
        version=m.version,
        digest=suite.digest,
        modality=m.modality,
        n_canaries=len(suite),
        classes=tuple(m.classes),
    )


@dataclass(frozen=True)
class Inputs:
    """Everything a check reads, loaded and verified before any model runs."""

    config: Config
    suite: Suite
    baseline: BaselineRecord
    waivers: Waivers
    calibration: Calibration | None = None


def load_inputs(config: Config, *, other_budget: bool = False) -> Inputs:
    """Read and verify the suite, baseline, waivers and calibration. A baseline whose probe or
    inversion results were measured with other counts than the config's is refused, or, with
    `other_budget` (a forced bless), read without those results."""
    from modelgate.probes.budget import refuse_other_budget, without_trigger_results

    suite = load_suite(config.suite_path)
    baseline = read_baseline(config.baseline_path, suite, config_file=config.path)
    from modelgate.trust import verify_records  # signatures, ledger, blessed model

    verify_records(config, suite, baseline)
    if other_budget:
        baseline = replace(baseline, header=without_trigger_results(baseline.header))
    refuse_other_budget(
        config.model.probes, suite.manifest.modality, baseline.header, baseline.path
    )
    waivers_path = config.resolve(config.model.waivers) if config.model.waivers else None
    waivers = load_waivers(waivers_path, suite.classes, ids=suite.ids)
    calibration = None
    if config.model.calibration:
        from modelgate.calibration_record import read_calibration

        calibration = read_calibration(config.resolve(config.model.calibration), baseline)
        if calibration.n_classes != len(suite.classes):
            raise CalibrationError(
                f"made for {calibration.n_classes} classes, the suite has {len(suite.classes)}",
                file=config.model.calibration,
            )
    return Inputs(
        config=config, suite=suite, baseline=baseline, waivers=waivers, calibration=calibration
    )


def predict_with_model(
    config: Config, suite: Suite, progress: Progress | None = None
) -> tuple[Predictions, Any]:
    """Load the candidate and predict the suite; the Predictor stays for the trigger probes."""
    from modelgate.models import load_predictor

    spec = config.candidate
    if config.model.inference.threads:
        import torch

        torch.set_num_threads(config.model.inference.threads)
    predictor = load_predictor(
        spec,
        config.folder,
        config_file=config.path,
        key="candidate",
        timeout_s=config.model.inference.timeout_s,
        classes=suite.classes,
    )
    from modelgate.devices import place

    predictor = place(predictor, config.model.inference.device, config_file=config.path)
    source = config.resolve(spec.path) if spec.path else config.path
    predictions = predict_suite(
        predictor,
        suite,
        batch_size=config.model.inference.batch_size,
        source=source,
        progress=progress,
    )
    return predictions, predictor


def run_gate(
    config: Config,
    *,
    progress: Progress | None = None,
    today: dt.date | None = None,
    pictures_dir: Path | None = None,
) -> GateResult:
    """Load, verify, predict once, probe once, compare with the baseline, decide.

    `pictures_dir` (a folder next to the Markdown report) receives PNGs of recovered triggers.
    """
    from modelgate.probes.run import triggers_for

    started = _now()
    inputs = load_inputs(config)
    candidate, predictor = predict_with_model(config, inputs.suite, progress)
    triggers = triggers_for(config, inputs.suite, predictor, candidate, inputs.baseline.header)
    result = evaluate(
        inputs, candidate, predictor.info, started_at=started, today=today, triggers=triggers
    )
    if pictures_dir is not None:
        from modelgate.probes.pictures import write_pictures

        result = write_pictures(result, triggers, inputs.suite, pictures_dir)
    from modelgate.history.engine import check_with_history  # drift check + run ledger

    return check_with_history(inputs, candidate, result, today=today)


def evaluate(
    inputs: Inputs,
    candidate: Predictions,
    candidate_info: ModelInfo,
    *,
    started_at: str = "",
    today: dt.date | None = None,
    triggers: TriggerRun | None = None,
) -> GateResult:
    """The pure part of the gate: predictions (and probe results) in, verdict out (no torch)."""
    from modelgate.analysis.churn_checks import statistical_checks

    suite, config, baseline = inputs.suite, inputs.config, inputs.baseline
    policy = config.policy
    truth = suite.labels
    base = baseline.predictions
    table = flip_table(truth, base.labels, candidate.labels)
    classes = suite.classes
    cand_names = [classes[c] for c in candidate.labels.tolist()]
    match = match_waivers(
        inputs.waivers, suite.ids, suite.tags, cand_names, table.any, today or dt.date.today()
    )
    base_margin = base.margins(truth)
    cand_margin = candidate.margins(truth)
    flips = FlippedCanaries.from_masks(
        suite.ids,
        suite.tags,
        classes,
        suite.id_order,
        truth,
        base.labels,
        candidate.labels,
        table.negative,
        table.positive,
        (base_margin, cand_margin),
        match.notes,
    )
    metrics = flip_metrics(truth, table, classes, suite.tags, match.explained)
    checks = [accuracy_check(metrics, policy)]
    checks += budget_checks(flips, policy)
    checks += statistical_checks(
        suite, base, candidate, table, match.explained, config, inputs.calibration
    )
    checks.append(waiver_check(match.uses, policy))
    notes: tuple[str, ...] = ()
    if inputs.calibration is None:
        notes = (NO_CALIBRATION,)
    if triggers is not None:
        from modelgate.probes.checks import trigger_checks

        share, calibration = alpha_share(config), inputs.calibration
        checks += trigger_checks(
            suite, triggers, baseline.header, policy.triggers, share, calibration
        )
        notes += triggers.notes
    checks.sort(key=lambda c: c.name)
    header = baseline.header
    return GateResult(
        verdict=verdict_of(checks),
        checks=tuple(checks),
        metrics=metrics,
        flips=flips,
        waivers=match.uses,
        suite=suite_info(suite),
        candidate=candidate_info,
        baseline=BaselineInfo(
            path=_display_path(baseline.path, config.folder),
            sha256=baseline.sha256,
            model_sha256=str(header.get("model", {}).get("sha256", "")),
            blessed_at=str(header.get("blessed_at", "")),
            git_commit=header.get("git_commit"),
        ),
        config_path=config.path.name,
        config_sha256=config.sha256,
        modelgate_version=__version__,
        notes=notes,
        started_at=started_at,
        finished_at=_now(),
    )


def _display_path(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder))
    except ValueError:
        return str(path)


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@dataclass(frozen=True)
class CalibrationOutcome:
    path: Path
    controls: tuple[str, ...]  # as recorded: relative to the config's folder where inside it
    # Controls the others' churn does not explain, with the checks they fail against them.
    suspects: tuple[tuple[str, tuple[Check, ...]], ...]
    refused: bool = False  # strict and suspects: nothing was written


def calibrate_controls(
    config: Config, controls: list[str], progress: Progress | None = None, strict: bool = False
) -> CalibrationOutcome:
    """Predict each clean control retrain and store the churn they show beside the baseline;
    name any control that fails the gate against the others (see analysis.screen), and with
    `strict` write nothing when one does."""
    from modelgate.calibration_record import write_calibration
    from modelgate.config import with_candidate_path

    if not config.model.calibration:
        raise UsageError(
            "the config names no calibration file",
            file=config.path,
            key="calibration",
            hint="add `calibration: baselines/NAME.calibration.json`",
        )
    if not controls:
        raise UsageError("give at least one --control model (clean retrains of the baseline)")
    from modelgate.probes.run import highest_attraction, triggers_for

    suite = load_suite(config.suite_path)
    baseline = read_baseline(config.baseline_path, suite, config_file=config.path)
    from modelgate.trust import remember_calibration, verify_records

    verify_records(config, suite, baseline, calibration=False)  # never calibrate on a forgery
    from modelgate.probes.budget import refuse_other_budget

    refuse_other_budget(
        config.model.probes, suite.manifest.modality, baseline.header, baseline.path
    )
    predicted: list[tuple[Predictions, ModelInfo]] = []
    probe_runs: list[TriggerRun] = []
    for control in controls:
        control_config = with_candidate_path(config, control)
        predictions, predictor = predict_with_model(control_config, suite, progress)
        shown = _display_path(Path(predictor.info.path), config.folder)
        predicted.append((predictions, replace(predictor.info, path=shown)))
        probe_runs.append(
            triggers_for(
                control_config, suite, predictor, predictions, baseline.header, calibrating=True
            )
        )
    # By digest: the record's per-control rows line up with its sorted list of controls, and
    # the order of --control arguments changes nothing.
    order = sorted(
        range(len(predicted)), key=lambda i: (predicted[i][1].sha256, predicted[i][1].path)
    )
    predicted = [predicted[i] for i in order]
    probe_runs = [probe_runs[i] for i in order]
    from modelgate.analysis.screen import suspicious_controls

    suspects = suspicious_controls(suite, baseline, [p for p, _ in predicted], config, probe_runs)
    path = config.resolve(config.model.calibration)
    refused = strict and bool(suspects)
    if not refused:
        write_calibration(path, suite, baseline, predicted, highest_attraction(probe_runs))
        remember_calibration(config, path)
    return CalibrationOutcome(
        path=path,
        controls=tuple(info.path for _, info in predicted),
        suspects=tuple((predicted[s.index][1].path, s.checks) for s in suspects),
        refused=refused,
    )


OTHER_BUDGET = (
    "the old baseline's probe and inversion results were measured with other counts than this "
    "config's, so the trigger checks could not compare with them (blessed with --force)"
)


def _bless_inputs(config: Config, force: bool) -> tuple[Inputs, bool]:
    """The inputs of the check a bless runs first, and whether the old record's trigger results
    were left out because they were measured with another budget (only with --force)."""
    from modelgate.errors import BaselineError

    try:
        return load_inputs(config), False
    except BaselineError as exc:
        if not (exc.key or "").endswith(".budget"):
            raise
        if not force:
            raise BaselineError(
                exc.message,
                file=exc.file,
                key=exc.key,
                hint="the old trigger results cannot judge this candidate; bless anyway with "
                "--force --reason '...' to record new ones with this config's counts",
            ) from None
    return load_inputs(config, other_budget=True), True


@dataclass(frozen=True)
class BlessOutcome:
    path: Path
    previous: GateResult | None  # the check against the old baseline, when there was one
    changed: tuple[str, ...]  # canary ids whose blessed label changed
    accuracy: float | None = None  # the new baseline's canary accuracy


def bless(
    config: Config,
    *,
    force: bool = False,
    reason: str | None = None,
    progress: Progress | None = None,
) -> BlessOutcome:
    """Record the candidate as the new baseline; refuse over a failing check unless forced."""
    from modelgate.probes.run import blessed_header, triggers_for

    if force and not reason:
        raise UsageError("--force needs --reason: say why a failing model is blessed")
    suite = load_suite(config.suite_path)
    previous: GateResult | None = None
    changed: tuple[str, ...] = ()
    other_budget = False
    if config.baseline_path.exists():
        inputs, other_budget = _bless_inputs(config, force)
        candidate, predictor = predict_with_model(config, suite, progress)
        info = predictor.info
        triggers = triggers_for(config, suite, predictor, candidate, inputs.baseline.header)
        from modelgate.history.engine import with_drift

        previous = with_drift(
            inputs, candidate, evaluate(inputs, candidate, info, triggers=triggers)
        )
        if other_budget:
            previous = replace(previous, notes=(*previous.notes, OTHER_BUDGET))
        if previous.exit_code != 0 and not force:
            failing = ", ".join(c.name for c in previous.checks if c.status.value == "failed")
            raise UsageError(
                f"the candidate fails the gate ({failing}); not blessed",
                file=config.path,
                key="candidate",
                hint="fix it, or bless anyway with --force --reason '...'",
            )
        moved = np.flatnonzero(inputs.baseline.predictions.labels != candidate.labels)
        changed = tuple(sorted(suite.ids[i] for i in moved))
    else:
        candidate, predictor = predict_with_model(config, suite, progress)
        info = predictor.info
        triggers = triggers_for(config, suite, predictor, candidate, None)
    header: dict[str, Any] = {
        "blessed_at": _now(),
        "config_sha256": config.sha256,
        "git_commit": git_commit(config.folder),
        "model": {
            "path": _display_path(Path(info.path), config.folder),
            "format": info.format,
            "sha256": info.sha256,
            "carries_code": info.carries_code,
            "ran": info.ran,
        },
        "modelgate_version": __version__,
        "suite": {
            "name": suite.manifest.name,
            "version": suite.manifest.version,
            "digest": suite.digest,
        },
        "classes": list(suite.classes),
        "forced": bool(
            force and previous is not None and (previous.exit_code != 0 or other_budget)
        ),
        "reason": reason,
    }
    header.update(blessed_header(triggers))  # the blessed model's probe and inversion results
    write_baseline(config.baseline_path, suite, candidate, header)
    from modelgate.history.engine import record_bless

    record_bless(config, suite, candidate, info, header, previous)
    accuracy = float(np.mean(candidate.labels == suite.labels))
    return BlessOutcome(
        path=config.baseline_path, previous=previous, changed=changed, accuracy=accuracy
    )
