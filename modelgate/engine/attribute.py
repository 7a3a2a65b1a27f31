"""`attribute`: the check's pure part (nothing enters the run ledger), then the attribution of
its failing findings to the rows of `training_data` (see modelgate.attribution)."""

from __future__ import annotations

from modelgate.attribution.result import AttributionReport
from modelgate.attribution.run import attribute_result, training_spec
from modelgate.config import Config
from modelgate.engine.candidate import predict_with_model
from modelgate.engine.evaluate import evaluate
from modelgate.engine.inputs import load_inputs
from modelgate.errors import UsageError
from modelgate.result import CheckName, GateResult, budget_tag


def attribute_check(
    config: Config, only: str | None = None, all_flips: bool = False
) -> tuple[GateResult, AttributionReport]:
    """Check the candidate as `check` decides it, minus the ledger and drift, then attribute
    (only check `only`; with `all_flips`, every unexplained flip even when nothing failed)."""
    from modelgate.probes.run import triggers_for

    training_spec(config)  # a missing training_data is refused before any model runs
    if only is not None:  # and a check that cannot exist, before minutes of inference
        _refuse_unknown_check(only)
    inputs = load_inputs(config)
    predictions, predictor = predict_with_model(config, inputs.suite)
    header = inputs.baseline.header
    triggers = triggers_for(config, inputs.suite, predictor, predictions, header.triggers)
    result = evaluate(inputs, predictions, predictor.info, triggers=triggers)
    report = attribute_result(
        config, result, suite=inputs.suite, triggers=triggers, predictor=predictor, only=only,
        all_flips=all_flips,
    )  # fmt: skip
    return result, report


def _refuse_unknown_check(name: str) -> None:
    known = [c.value for c in CheckName]
    if name not in known and budget_tag(name) is None:
        raise UsageError(
            f"no check is named {name!r}",
            key="--finding",
            hint="one of: " + ", ".join(sorted(known)) + " or flips.tag.TAG",
        )
