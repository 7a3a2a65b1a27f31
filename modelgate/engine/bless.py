"""`bless`: check the candidate against the old baseline, then record it as the new one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from modelgate._version import __version__
from modelgate.baseline import write_baseline
from modelgate.baseline_header import BaselineHeader, BlessedModel, SuiteRef
from modelgate.config import Config
from modelgate.engine.candidate import Stages, predict_with_model, stage
from modelgate.engine.evaluate import evaluate
from modelgate.engine.inputs import Inputs, display_path, git_commit, load_inputs, now
from modelgate.errors import UsageError
from modelgate.result import BlessOutcome, GateResult
from modelgate.suite.format import load_suite

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


def bless(
    config: Config,
    *,
    force: bool = False,
    reason: str | None = None,
    progress: Stages | None = None,
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
        candidate, predictor = predict_with_model(config, suite, stage(progress, "predicting"))
        info = predictor.info
        triggers = triggers_for(
            config,
            suite,
            predictor,
            candidate,
            inputs.baseline.header.triggers,
            plan=inputs.plan,
            progress=progress,
        )
        from modelgate.engine.history import with_drift

        previous = with_drift(
            inputs, candidate, evaluate(inputs, candidate, info, triggers=triggers)
        )
        if other_budget:
            previous = replace(previous, notes=(*previous.notes, OTHER_BUDGET))
        if previous.exit_code != 0 and not force:
            failing = ", ".join(previous.failed_checks)
            raise UsageError(
                f"the candidate fails the gate ({failing}); not blessed",
                file=config.path,
                key="candidate",
                hint="fix it, or bless anyway with --force --reason '...'",
            )
        moved = np.flatnonzero(inputs.baseline.predictions.labels != candidate.labels)
        changed = tuple(sorted(suite.ids[i] for i in moved))
    else:
        candidate, predictor = predict_with_model(config, suite, stage(progress, "predicting"))
        info = predictor.info
        triggers = triggers_for(config, suite, predictor, candidate, None, progress=progress)
    header = BaselineHeader(
        suite=SuiteRef(suite.manifest.name, suite.manifest.version, suite.digest),
        model=BlessedModel(
            path=display_path(Path(info.path), config.folder),
            format=info.format,
            sha256=info.sha256,
            carries_code=info.carries_code,
            ran=info.ran,
        ),
        blessed_at=now(),
        config_sha256=config.sha256,
        git_commit=git_commit(config.folder),
        modelgate_version=__version__,
        classes=tuple(suite.classes),
        forced=bool(force and previous is not None and (previous.exit_code != 0 or other_budget)),
        reason=reason,
        triggers=blessed_header(triggers),  # the blessed model's probe and inversion results
    )
    write_baseline(config.baseline_path, suite, candidate, header)
    from modelgate.engine.history import record_bless

    record_bless(config, suite, candidate, info=info, header=header, previous=previous)
    accuracy = float(np.mean(candidate.labels == suite.labels))
    return BlessOutcome(
        path=config.baseline_path, previous=previous, changed=changed, accuracy=accuracy
    )
