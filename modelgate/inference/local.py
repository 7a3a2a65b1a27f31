"""The default engine: predict in this process, streaming batches from the memory-mapped suite."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from modelgate.config import Config
from modelgate.models.interface import Predictor
from modelgate.predict import Predictions, predict_suite
from modelgate.suite.format import Suite


def suite_rows(suite: Suite, start: int, stop: int) -> Suite:
    """The suite's canaries [start, stop) as a suite of their own (a view, nothing copied)."""
    if (start, stop) == (0, len(suite)):
        return suite
    return dataclasses.replace(
        suite,
        ids=suite.ids[start:stop],
        labels=suite.labels[start:stop],
        tags=suite.tags[start:stop],
        inputs=suite.inputs[start:stop],
    )


def predict_local(
    config: Config,
    predictor: Predictor,
    suite: Suite,
    *,
    rows: tuple[int, int],
    progress: Callable[[int, int], None] | None = None,
) -> Predictions:
    """Predict canaries [start, stop) here; `start` must be a multiple of the batch size so the
    batches are the ones a whole-suite run makes."""
    start, stop = rows
    batch_size = config.settings.inference.batch_size
    assert start % batch_size == 0 or stop == start, "rows must start on a batch boundary"
    source = config.resolve(config.candidate.path) if config.candidate.path else config.path
    return predict_suite(
        predictor,
        suite_rows(suite, start, stop),
        batch_size=batch_size,
        source=source,
        progress=progress,
    )
