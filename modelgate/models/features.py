"""A callable model's penultimate features: what the function its loader returns may expose as
`.features(batch) -> (N, D) array`, the input of the model's final linear layer.

A callable that exposes them opts in to last-layer attribution (`modelgate attribute`); the
attribution fits the final layer from features and scores and refuses features that do not
explain the scores. Here only their shape and values are checked, the same for a sandboxed
model (host side, after the pipe) and one run in-process: anything else is a PredictionError
naming the model file and `KEY`, exit 2. No torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelgate.errors import ModelgateError, PredictionError

KEY = "features"  # the config-facing name of the opt-in, in error messages
MAX_FEATURES = 4096  # widest penultimate layer accepted (BERT-large 1024, 7B LLMs 4096)

FeaturesFn = Callable[[Any], np.ndarray]


def features_of(score: Any) -> FeaturesFn | None:
    """The `.features` function a score function carries, or None."""
    fn = getattr(score, "features", None)
    return fn if callable(fn) else None


def checked_features(raw: Any, n: int, source: Path | str | None, key: str = KEY) -> np.ndarray:
    """`raw` as a finite (n, D) float64 array, 1 <= D <= MAX_FEATURES; else PredictionError."""
    try:
        out = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise PredictionError(
            f"the model's features are {type(raw).__name__}, not a numeric array",
            file=source,
            key=key,
        ) from None
    if out.ndim != 2 or out.shape[0] != n or not 1 <= out.shape[1] <= MAX_FEATURES:
        raise PredictionError(
            f"the model's features have shape {tuple(out.shape)}; expected ({n}, D) for a "
            f"batch of {n}, 1 <= D <= {MAX_FEATURES}",
            file=source,
            key=key,
        )
    if not np.isfinite(out).all():
        bad = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
        raise PredictionError(
            f"the model's features are NaN or infinite (row {bad} of a batch of {n})",
            file=source,
            key=key,
        )
    return out


def guarded_features(
    fn: FeaturesFn, source: Path | str | None, around: Callable[[Callable[[], Any]], Any]
) -> FeaturesFn:
    """`fn` with its output checked, each call run through `around` (the caller's deadline and
    sys.exit guard); an exception the model raises is a PredictionError naming it."""

    def features(batch: Any) -> np.ndarray:
        try:
            raw = around(lambda: fn(batch))
        except ModelgateError:  # the deadline's, or a sys.exit() refused
            raise
        except Exception as exc:
            text = str(exc).strip()
            raise PredictionError(
                f"the model's features raised {type(exc).__name__}"
                + (f": {text.splitlines()[0][:300]}" if text else ""),
                file=source,
                key=KEY,
            ) from None
        return checked_features(raw, len(batch), source)

    return features
