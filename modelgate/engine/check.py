"""`check`: load, verify, predict once, probe once, compare with the baseline, decide."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelgate.config import Config
from modelgate.engine.candidate import PredictionSource, Stages, predict_with_model, stage
from modelgate.engine.evaluate import evaluate
from modelgate.engine.inputs import load_inputs, now
from modelgate.result import GateResult
from modelgate.suite.format import Suite

if TYPE_CHECKING:
    from modelgate.probes.results import TriggerRun


@dataclass(frozen=True)
class Checked:
    """A decided check, with what the reports need beyond the verdict (the trigger pictures)."""

    result: GateResult
    suite: Suite
    triggers: TriggerRun | None


def check_candidate(
    config: Config,
    *,
    progress: Stages | None = None,
    today: dt.date | None = None,
    given: PredictionSource | None = None,
) -> Checked:
    """Load and verify the inputs, predict and probe the candidate once, decide, add the drift
    check and record the run in the ledger. `given`: the suite's predictions were made
    elsewhere (`modelgate merge` of shards); the candidate is loaded for the probes only."""
    from modelgate.engine.history import check_with_history  # drift check + run ledger
    from modelgate.probes.run import triggers_for

    started = now()
    inputs = load_inputs(config)
    predicting = stage(progress, "predicting")
    candidate, predictor = predict_with_model(config, inputs.suite, predicting, given=given)
    triggers = triggers_for(
        config,
        inputs.suite,
        predictor,
        candidate,
        inputs.baseline.header.triggers,
        plan=inputs.plan,
        progress=progress,
    )
    result = evaluate(
        inputs, candidate, predictor.info, started_at=started, today=today, triggers=triggers
    )
    result = check_with_history(inputs, candidate, result, today=today)
    return Checked(result=result, suite=inputs.suite, triggers=triggers)


def run_gate(
    config: Config, *, progress: Stages | None = None, today: dt.date | None = None
) -> GateResult:
    """The verdict alone (no report files): `check_candidate(...).result`."""
    return check_candidate(config, progress=progress, today=today).result
