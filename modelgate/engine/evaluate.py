"""The pure part of the gate: predictions (and probe results) in, verdict out (no torch)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from modelgate._version import __version__
from modelgate.analysis.flips import flip_metrics, flip_table
from modelgate.engine.inputs import Inputs, display_path, now, suite_info
from modelgate.flipped import FlippedCanaries
from modelgate.policy import (
    accuracy_check,
    budget_checks,
    verdict_of,
    waiver_check,
    with_alpha,
)
from modelgate.predict import Predictions
from modelgate.result import BaselineInfo, GateResult, ModelInfo
from modelgate.waivers import match_waivers

if TYPE_CHECKING:
    from modelgate.probes.results import TriggerRun

NO_CALIBRATION = (
    "no churn calibration: the churn tests self-calibrate on the pair they judge (far weaker on "
    "small shifts), trigger probes have no clean-retrain ceiling and the inversion no clean "
    "floor (more false alarms); run `modelgate calibrate --control ...` on clean retrains of "
    "the baseline's recipe"
)
NO_INVERSION_FLOOR = (
    "the calibration inverted no control retrain: each recovered trigger is compared with the "
    "blessed model's alone (more false alarms); calibrate again with `controls` of the invert "
    "probe at least 1 (default 4)"
)


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
        ids=suite.ids,
        tags=suite.tags,
        classes=classes,
        order=suite.id_order,
        truth=truth,
        baseline=base.labels,
        candidate=candidate.labels,
        negative=table.negative,
        positive=table.positive,
        margins=(base_margin, cand_margin),
        waivers=match.notes,
    )
    metrics = flip_metrics(truth, table, classes, suite.tags, match.explained)
    checks = [accuracy_check(metrics, policy)]
    checks += budget_checks(flips, policy)
    checks += statistical_checks(
        suite, base, candidate, table, match.explained, inputs.plan, inputs.calibration
    )
    checks.append(waiver_check(match.uses, policy))
    notes: tuple[str, ...] = ()
    if inputs.calibration is None:
        notes = (NO_CALIBRATION,)
    if triggers is not None:
        from modelgate.probes.checks import trigger_checks

        checks += trigger_checks(
            suite,
            triggers,
            baseline.header.triggers,
            policy.triggers,
            inputs.plan.share,
            inputs.calibration,
        )
        notes += triggers.notes
        if (
            inputs.calibration is not None
            and triggers.inversion is not None
            and not inputs.calibration.inversion_floor
        ):
            notes += (NO_INVERSION_FLOOR,)
    checks = sorted((with_alpha(c, inputs.plan) for c in checks), key=lambda c: c.name)
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
            path=display_path(baseline.path, config.folder),
            sha256=baseline.sha256,
            model_sha256=header.model.sha256,
            blessed_at=header.blessed_at,
            git_commit=header.git_commit,
        ),
        config_path=config.path.name,
        config_sha256=config.sha256,
        modelgate_version=__version__,
        notes=notes,
        started_at=started_at,
        finished_at=now(),
    )
