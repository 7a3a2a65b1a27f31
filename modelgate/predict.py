"""Batched, streaming inference over a suite: one pass per model, bounded memory.

Only the per-class log-probabilities are kept (N x K float32); inputs stream batch by batch
from the memory-mapped suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelgate.errors import PredictionError
from modelgate.models.interface import Predictor
from modelgate.suite.format import Suite


@dataclass(frozen=True)
class Predictions:
    """One model's behaviour on a suite, in suite order."""

    log_probs: np.ndarray  # (N, K) float32
    labels: np.ndarray  # (N,) int64 argmax

    def margins(self, truth: np.ndarray) -> np.ndarray:
        """Score of the true class minus the best other class (negative = wrong)."""
        return true_class_margins(self.log_probs, truth)


_MARGIN_ROWS = 1 << 15  # canaries per block: no copy of every score is made


def true_class_margins(log_probs: np.ndarray, truth: np.ndarray) -> np.ndarray:
    out = np.empty(len(truth), dtype=np.float32)
    for start in range(0, len(truth), _MARGIN_ROWS):
        sl = slice(start, min(start + _MARGIN_ROWS, len(truth)))
        rows, true_class = np.arange(sl.stop - sl.start), truth[sl]
        others = log_probs[sl].copy()
        true_score = others[rows, true_class]
        others[rows, true_class] = -np.inf
        out[sl] = true_score - others.max(axis=1)
    return out


def _to_log_probs_numpy(scores: np.ndarray, output: str) -> np.ndarray:
    # Infinite or all-zero rows give inf/NaN, which the caller refuses by name; numpy's own
    # RuntimeWarning on stderr would turn that one-line error into three.
    with np.errstate(all="ignore"):
        return _log_probs_of(scores.astype(np.float64, copy=False), output)


def _log_probs_of(scores: np.ndarray, output: str) -> np.ndarray:
    if output == "log_probs":
        return scores
    if output == "probs":
        if (scores < 0).any():
            raise PredictionError(
                "model returned negative scores, which `output: probs` cannot be", key="output"
            )
        return np.log(np.clip(scores, 1e-45, None)) - np.log(scores.sum(axis=1, keepdims=True))
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def predict_suite(
    predictor: Predictor,
    suite: Suite,
    *,
    batch_size: int,
    source: Path | str,
    progress: Callable[[int, int], None] | None = None,
) -> Predictions:
    """Run `predictor` over every canary; any bad output is a PredictionError naming `source`."""
    n, k = len(suite), len(suite.classes)
    log_probs = np.empty((n, k), dtype=np.float32)
    run_batch = _torch_runner(predictor) if predictor.is_torch else _python_runner(predictor)
    first: Any = None
    for start, batch in suite.batches(batch_size):
        first = batch if first is None else first
        try:
            out = run_batch(batch)
        except PredictionError as exc:
            raise PredictionError(exc.message, file=source, key=exc.key) from None
        except Exception as exc:
            raise PredictionError(
                f"model raised {type(exc).__name__} on canaries {start}..{start + len(batch) - 1}:"
                f" {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                file=source,
                key="candidate",
            ) from exc
        if out.shape != (len(batch), k):
            raise PredictionError(
                f"model returned scores of shape {tuple(out.shape)}; expected "
                f"({len(batch)}, {k}) for {k} classes",
                file=source,
                key="output",
            )
        if not np.isfinite(out).all():
            bad = start + int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
            raise PredictionError(
                f"model returned NaN or infinite scores (canary {suite.ids[bad]!r})",
                file=source,
                key="output",
            )
        log_probs[start : start + len(batch)] = out
        if progress is not None:
            progress(start + len(batch), n)
    if first is not None:
        _refuse_a_changing_model(run_batch, first, log_probs[: len(first)], source)
    return Predictions(log_probs=log_probs, labels=log_probs.argmax(axis=1).astype(np.int64))


def _refuse_a_changing_model(
    run_batch: Callable[[Any], np.ndarray], first: Any, scored: np.ndarray, source: Path | str
) -> None:
    """The first batch scored again must give the same scores: a model that answers the same
    canaries differently (dropout left in train mode, sampling inside it) makes churn of its own,
    which the statistics would read as the candidate's. Float noise (threads, a GPU's atomics)
    is far inside the tolerance."""
    try:
        again = run_batch(first)
    except Exception as exc:  # it answered these canaries once: failing now is changing too
        again = None
        reason = f"raised {type(exc).__name__} on a second pass"
    else:
        reason = "returned other scores for the same canaries on a second pass"
    if again is not None and again.shape == scored.shape:
        close = np.isclose(again, scored, rtol=1e-4, atol=1e-3) | (again == scored)
        if close.all():
            return
        row = int(np.flatnonzero(~close.all(axis=1))[0])
        reason += f" (canary {row}: up to {float(np.nanmax(np.abs(again - scored)[row])):.3g} nats)"
    raise PredictionError(
        f"the model {reason}: it is not deterministic, so its flips cannot be told from churn",
        file=source,
        key="candidate",
        hint="put the model in eval mode (dropout off) and take no random draws when scoring",
    )


def _torch_runner(predictor: Predictor) -> Callable[[Any], np.ndarray]:
    import torch

    from modelgate.devices import module_device

    device = module_device(predictor.module) if predictor.module is not None else "cpu"

    def run(batch: Any) -> np.ndarray:
        tensor = torch.from_numpy(np.array(batch))  # copy: the suite is a read-only memmap
        if device != "cpu":
            tensor = tensor.to(device, non_blocking=True)
        with torch.inference_mode():
            scores = predictor.score(tensor)
            if not isinstance(scores, torch.Tensor):
                raise PredictionError(
                    f"model returned {type(scores).__name__}, not a tensor", key="output"
                )
            scores = scores.cpu()  # the statistics run on the CPU, whatever the device
            if scores.ndim != 2:
                return scores.float().numpy()  # the shape check names the problem
            scores = scores.float()
            if predictor.output == "logits":
                scores = torch.log_softmax(scores, dim=1)
            elif predictor.output == "probs":
                if (scores < 0).any():
                    raise PredictionError("model returned negative probabilities", key="output")
                scores = torch.log(scores.clamp_min(1e-45) / scores.sum(dim=1, keepdim=True))
            return scores.numpy()

    return run


def _python_runner(predictor: Predictor) -> Callable[[Any], np.ndarray]:
    def run(batch: Any) -> np.ndarray:
        raw = predictor.score(batch if isinstance(batch, list) else np.array(batch))
        try:
            scores = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise PredictionError(
                f"model returned {type(raw).__name__} that is not numeric", key="output"
            ) from exc
        if scores.ndim != 2:
            return scores
        return _to_log_probs_numpy(scores, predictor.output)

    return run
