"""A black-box callable's opt-in to last-layer attribution: its `.features` (the input of its
final linear layer) and scores are all the scoring needs, once the final layer is known.

The layer is fitted, not trusted: least squares of the model's centred log-scores on
[features, 1] over the behaviours' canaries and an evenly spaced sample of the scored rows.
Then every batch the scoring reads (each training row, each canary) is checked against the fit:
features that do not reproduce the model's own scores through one linear map are not a last
layer's input, and the candidate is refused ("not white-box"), naming why. Centring over
classes makes the fit valid for probabilities and log-probabilities too: softmax is unchanged by
a per-row constant, and log p - mean_k log p = z - mean_k z is linear in the features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from modelgate.errors import PredictionError
from modelgate.models.features import features_of

REL_TOL = 1e-3  # largest relative residual (rms over rms of the scores' spread) accepted
FIT_ROWS = 4096  # training rows sampled for the fit (counts only: deterministic)
OPT_IN = (
    "a callable opts in by giving the function its loader returns a `.features(batch)` "
    "attribute: an (N, D) array, the input of the model's final linear layer (README: Which "
    "data drove it)"
)


class FeaturesRefused(Exception):
    """The features do not explain the model's scores (or cannot be checked): why, one line."""


class FittedHead:
    """The final layer of a callable that exposes `.features`, fitted and then checked on
    every batch the scoring asks for."""

    def __init__(self, predictor: Any, n_classes: int) -> None:
        fn = features_of(predictor.score)
        assert fn is not None
        self._features = fn
        self._score = predictor.score
        self._output = str(predictor.output)
        self._source = predictor.info.path
        self._k = n_classes
        self.theta = np.zeros((0, n_classes))  # (D + 1, K), set by `fit`
        self._spread = 0.0  # rms over rows of the centred log-scores' deviation from their mean

    def fit(self, batches: Sequence[Any]) -> nn.Linear:
        """Least squares on the given input batches; refuses when the fit leaves a residual, when
        there are too few rows to tell, or when the scores do not vary."""
        h, y = [], []
        for batch in batches:
            if len(batch):
                h.append(self._features(batch))
                y.append(self._targets(batch))
        feats, targets = np.concatenate(h), np.concatenate(y)
        n, d = feats.shape
        if n < 2 * (d + 1):
            raise FeaturesRefused(
                f"{n} rows and canaries cannot check {d} features against the scores (at least "
                f"{2 * (d + 1)} are needed)"
            )
        spread = targets - targets.mean(axis=0)
        self._spread = float(np.sqrt((spread**2).sum() / n))
        if not self._spread > 0:
            raise FeaturesRefused("the model gives every row the same scores: nothing to attribute")
        x = np.concatenate([feats, np.ones((n, 1))], axis=1)
        self.theta = np.linalg.lstsq(x, targets, rcond=None)[0]
        self._verify(feats, targets, "the fit")
        head = nn.Linear(d, self._k, dtype=torch.float64)
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(np.ascontiguousarray(self.theta[:-1].T)))
            head.bias.copy_(torch.from_numpy(np.ascontiguousarray(self.theta[-1])))
        return head.eval()

    def checked(self, batch: Any) -> np.ndarray:
        """The features of `batch` (float64), after checking the fitted layer maps them to the
        model's scores of the same batch."""
        feats = self._features(batch)
        if feats.shape[1] != self.theta.shape[0] - 1:
            raise FeaturesRefused(
                f"the features have {feats.shape[1]} columns here and "
                f"{self.theta.shape[0] - 1} elsewhere"
            )
        self._verify(feats, self._targets(batch), "a scored batch")
        return feats

    def _verify(self, feats: np.ndarray, targets: np.ndarray, where: str) -> None:
        fitted = feats @ self.theta[:-1] + self.theta[-1]
        rms = float(np.sqrt(((targets - fitted) ** 2).sum() / max(1, len(feats))))
        relative = rms / self._spread
        if not relative <= REL_TOL:
            raise FeaturesRefused(
                f"its features do not explain its scores: the best linear layer on them leaves "
                f"a relative residual of {relative:.3g} on {where} (at most {REL_TOL:g}), so they "
                "are not the input of its final linear layer"
            )

    def _targets(self, batch: Any) -> np.ndarray:
        """The model's scores of `batch` as log-scores centred over classes: z - mean_k z for
        logits, the same for (log-)probabilities, whose normaliser is a per-row constant."""
        raw = self._score(batch)
        try:
            scores = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            scores = np.zeros((0,))
        if scores.shape != (len(batch), self._k) or not np.isfinite(scores).all():
            raise PredictionError(
                f"the model's scores of a training batch are not a finite ({len(batch)}, "
                f"{self._k}) array",
                file=self._source,
                key="output",
            )
        if self._output == "probs":
            scores = np.log(np.clip(scores, 1e-45, None))
        centred: np.ndarray = scores - scores.mean(axis=1, keepdims=True)  # normalisers cancel
        return centred
