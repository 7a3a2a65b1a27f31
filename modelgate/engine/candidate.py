"""Load a model under test and predict the suite with it, as `inference:` says."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelgate.config import Config
from modelgate.predict import Predictions
from modelgate.suite.format import Suite

Progress = Callable[[int, int], None]  # (done, total) of one stage
# A run's progress: the counter for each of its stages ("predicting", "probing", "inverting"),
# or None where that stage shows none.
Stages = Callable[[str], Progress | None]


def stage(stages: Stages | None, name: str) -> Progress | None:
    """The counter for stage `name`, if the front end shows progress at all."""
    return stages(name) if stages is not None else None


@dataclass(frozen=True)
class Predicted:
    """Predictions of the whole suite made elsewhere (merged shards), by the model file whose
    sha256 is `model_sha256`; `source` names where they came from in an error."""

    predictions: Predictions
    model_sha256: str
    source: str


# Reads (and verifies against the loaded suite) predictions made elsewhere: `modelgate merge`.
PredictionSource = Callable[[Config, Suite], Predicted]


def predict_with_model(
    config: Config,
    suite: Suite,
    progress: Progress | None = None,
    *,
    rows: tuple[int, int] | None = None,
    given: PredictionSource | None = None,
) -> tuple[Predictions, Any]:
    """Load the candidate and predict the suite (or only canaries `rows`, a shard), or take the
    predictions `given` reads once the loaded candidate is the model that made them; the
    Predictor stays for the trigger probes."""
    from modelgate.errors import ModelLoadError
    from modelgate.inference import predict_rows

    predicted = given(config, suite) if given is not None else None
    predictor = load_model(config, suite)
    if predicted is not None:
        if predicted.model_sha256 != predictor.info.sha256:
            raise ModelLoadError(
                f"is not the model {predicted.source} predicted with (sha256 "
                f"{predictor.info.sha256[:12]}..., theirs {predicted.model_sha256[:12]}...)",
                file=predictor.info.path,
                key="candidate",
                hint="merge with the candidate the shards checked (--candidate PATH)",
            )
        return predicted.predictions, predictor
    return predict_rows(config, predictor, suite, rows=rows, progress=progress), predictor


def load_model(config: Config, suite: Suite) -> Any:
    """The config's candidate as a Predictor, on the device `inference:` asks for."""
    from modelgate.devices import place
    from modelgate.models import load_candidate

    if config.settings.inference.threads:
        import torch

        torch.set_num_threads(config.settings.inference.threads)
    predictor = load_candidate(config, suite.classes)
    return place(predictor, config.settings.inference.device, config_file=config.path)
