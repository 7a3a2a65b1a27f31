"""Screening the control retrains before they become the churn null.

A poisoned or broken model among the controls widens the null until the gate is blind to that
very attack (a backdoored control would raise the probe ceiling for its own trigger). So each
control is judged like a candidate, with the gate's own checks, against the other controls: the
churn tests against a calibration made from the others, the trigger-probe check against the
blessed model and the others' highest attraction, an inverted control's triggers against the
floor of the blessed model's and the other inverted controls' (a backdoored control would
lower the floor under its own trigger; `policy.alpha` also split over the controls).
One that fails is named for a person to look at before the record is trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from modelgate.analysis.calibration import calibrate
from modelgate.analysis.churn_checks import statistical_checks
from modelgate.analysis.flips import flip_table
from modelgate.baseline import BaselineRecord
from modelgate.config import Config
from modelgate.policy import alpha_plan
from modelgate.predict import Predictions
from modelgate.probes.results import TriggerRun
from modelgate.result import Check, Status
from modelgate.suite.format import Suite

MIN_CONTROLS = 3  # with fewer, "the others" cannot give a spread to judge one control by


@dataclass(frozen=True)
class Suspect:
    """A control that the other controls' churn does not explain."""

    index: int  # position in the controls as given
    checks: tuple[Check, ...]  # the churn checks it fails (or warns on) against the others


def suspicious_controls(
    suite: Suite,
    baseline: BaselineRecord,
    controls: Sequence[Predictions],
    config: Config,
    probe_runs: Sequence[TriggerRun] = (),
) -> list[Suspect]:
    """Controls that fail the churn tests against a calibration made from the others, or the
    trigger-probe check against the blessed model and the others' highest attraction
    (`probe_runs`: each control's probe counts, in the same order)."""
    from modelgate.probes.checks import inversion_check, probe_check
    from modelgate.probes.run import (
        attraction,
        highest_attraction,
        inversion_floor,
        sample_delta,
    )

    if len(controls) < MIN_CONTROLS:
        return []
    policy = config.policy
    header = baseline.header.triggers
    strict = alpha_plan(config).stricter(len(controls))  # each control is one more judgement
    base = baseline.predictions
    y = suite.labels
    nothing_waived = np.zeros(len(suite), dtype=bool)
    suspects = []
    # Every leave-one-out ceiling takes the same runs' bounds, mostly at one level: each
    # (run, level) is bounded once (an exact bisection over every cell, the screen's main cost).
    bounds: dict[tuple[int, float], dict[str, np.ndarray]] = {}

    def bounded(j: int, delta: float) -> dict[str, np.ndarray]:
        if (j, delta) not in bounds:
            bounds[j, delta] = attraction(probe_runs[j], delta)
        return bounds[j, delta]

    for i, control in enumerate(controls):
        others = [(c.labels, c.log_probs) for j, c in enumerate(controls) if j != i]
        null = calibrate(y, base.labels, base.log_probs, others)
        table = flip_table(y, base.labels, control.labels)
        checks = statistical_checks(suite, base, control, table, nothing_waived, strict, null)
        if len(probe_runs) == len(controls) and probe_runs[i].counts is not None:
            rest = [j for j in range(len(probe_runs)) if j != i]
            delta = sample_delta([probe_runs[j] for j in rest])
            ceiling = highest_attraction(
                [probe_runs[j] for j in rest], [bounded(j, delta) for j in rest]
            )
            with_ceiling = replace(
                null,
                probe_max=tuple(
                    (name, tuple(float(v) for v in row)) for name, row in sorted(ceiling.items())
                ),
            )
            checks.append(
                probe_check(
                    suite,
                    probe_runs[i],
                    baseline.header.triggers,
                    policy.triggers,
                    strict.share,
                    with_ceiling,
                )
            )
            if probe_runs[i].inversion is not None:
                floor = inversion_floor([probe_runs[j] for j in rest], header, len(suite.classes))
                judged = with_ceiling.with_floor(floor)
                checks.append(
                    inversion_check(
                        suite, probe_runs[i], header, policy.triggers, strict.share, judged
                    )
                )
        raised = tuple(c for c in checks if c.status in (Status.FAILED, Status.WARNED))
        if raised:
            suspects.append(Suspect(i, raised))
    return suspects
