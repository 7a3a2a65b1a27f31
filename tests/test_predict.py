from __future__ import annotations

import warnings

import numpy as np
import pytest

from modelgate.errors import PredictionError
from modelgate.predict import _to_log_probs_numpy


@pytest.mark.parametrize(
    ("scores", "output"),
    [
        (np.zeros((2, 3)), "probs"),  # every probability zero: log(0) - log(0)
        (np.array([[np.inf, 0.0, 1.0]]), "logits"),
        (np.array([[1e308, 1e308, 0.0]]), "probs"),  # the row's sum overflows
    ],
)
def test_non_finite_scores_come_back_without_a_numpy_warning(
    scores: np.ndarray, output: str
) -> None:
    """The caller refuses them in one line naming `output`; numpy's RuntimeWarning on
    stderr would make that error three lines."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = _to_log_probs_numpy(scores, output)
    assert not np.isfinite(out).all()


def test_negative_probabilities_blame_the_output_setting() -> None:
    with pytest.raises(PredictionError) as caught:
        _to_log_probs_numpy(np.array([[0.5, -0.1, 0.6]]), "probs")
    assert caught.value.key == "output"


def test_a_model_that_answers_the_same_canaries_differently_is_refused() -> None:
    from modelgate.predict import _refuse_a_changing_model

    rng = np.random.default_rng(0)
    scored = np.log(np.full((4, 3), 1 / 3, dtype=np.float32))
    float_noise = scored + rng.normal(0, 1e-6, scored.shape).astype(np.float32)
    _refuse_a_changing_model(lambda _: float_noise, [0] * 4, scored, "m.pt")  # threads, GPUs
    dropout = scored + rng.normal(0, 0.5, scored.shape).astype(np.float32)
    with pytest.raises(PredictionError, match="not deterministic") as caught:
        _refuse_a_changing_model(lambda _: dropout, [0] * 4, scored, "m.pt")
    assert caught.value.file == "m.pt" and "eval mode" in (caught.value.hint or "")
