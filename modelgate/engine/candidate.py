"""Load a model under test and predict the suite with it, as `inference:` says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelgate.config import Config
from modelgate.predict import Predictions, predict_suite
from modelgate.suite.format import Suite

Progress = Callable[[int, int], None]


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
