"""Execution engines: where the suite's canaries are predicted (this process, or a Ray cluster).

Every engine returns the same `Predictions` for the same rows: canaries are predicted in the
batches `inference.batch_size` cuts from the start of the suite, whichever process runs them,
so a sharded or distributed run scores every canary exactly as one process does.
"""

from __future__ import annotations

from collections.abc import Callable

from modelgate.config import Config
from modelgate.models.interface import Predictor
from modelgate.predict import Predictions
from modelgate.suite.format import Suite

Progress = Callable[[int, int], None]
Rows = tuple[int, int]  # [start, stop) suite positions


def predict_rows(
    config: Config,
    predictor: Predictor,
    suite: Suite,
    *,
    rows: Rows | None = None,
    progress: Progress | None = None,
) -> Predictions:
    """Predict canaries `rows` (all by default) with the engine `inference.engine` names."""
    start, stop = rows if rows is not None else (0, len(suite))
    inference = config.settings.inference
    if inference.engine == "ray":
        from modelgate.inference.ray_engine import predict_on_ray

        return predict_on_ray(config, predictor, suite, rows=(start, stop), progress=progress)
    from modelgate.inference.local import predict_local

    return predict_local(config, predictor, suite, rows=(start, stop), progress=progress)
