"""Attraction: how many canaries of other classes each probe sends to each class.

Only canaries the model put in their true class on clean input count ("eligible"): a canary that
was already wrong says nothing about a trigger. Stamped inputs go through the same inference
path as the suite (`predict_suite`), so a model that breaks on them fails closed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelgate.heap import keep_freed_memory
from modelgate.models.interface import Predictor
from modelgate.predict import predict_suite
from modelgate.probes.probe import Probe
from modelgate.probes.sample import control_sample, other_class_counts
from modelgate.probes.sizing import sizes_of
from modelgate.suite.format import Suite

MAX_PROBE_CANARIES = 4000  # the default of `probes.canaries`
_STAMP_ITEM_BYTES = 8  # probes stamp in float64 before casting back to the suite's dtype
DEFAULT_BATCH_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ProbeCounts:
    """One model's response to every probe, on its eligible canaries."""

    names: tuple[str, ...]
    hits: np.ndarray  # (P, K) int64: eligible canaries of other classes predicted as class t
    eligible: np.ndarray  # (K,) int64: eligible canaries not of class t
    predicted: np.ndarray  # (P, E) int64: label of each stamped eligible canary
    index: np.ndarray  # (E,) int64: suite positions of the eligible canaries
    # Set when only a sample of the probe canaries was stamped (a control retrain, see
    # `probes.sample`): per class, the eligible canaries of other classes in the whole subset.
    population: np.ndarray | None = None

    def row(self, name: str) -> int:
        return self.names.index(name)

    def examples(self, suite: Suite, name: str, target: int, limit: int = 20) -> tuple[str, ...]:
        """Ids of canaries this probe moved to `target`, in suite order."""
        pred = self.predicted[self.row(name)]
        moved = self.index[(pred == target) & (suite.labels[self.index] != target)]
        return tuple(suite.ids[i] for i in moved[:limit])

    def merged(self, other: ProbeCounts) -> ProbeCounts:
        return ProbeCounts(
            names=self.names + other.names,
            hits=np.concatenate([self.hits, other.hits]),
            eligible=self.eligible,
            predicted=np.concatenate([self.predicted, other.predicted]),
            index=self.index,
            population=self.population,
        )


def probe_subset(n: int, limit: int = MAX_PROBE_CANARIES) -> np.ndarray:
    """Evenly spaced suite positions: the same canaries for every model."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def eligible_index(
    suite: Suite, clean_labels: np.ndarray, canaries: int = MAX_PROBE_CANARIES
) -> np.ndarray:
    subset = probe_subset(len(suite), canaries)
    return subset[clean_labels[subset] == suite.labels[subset]]


def take(inputs: Any, index: np.ndarray) -> Any:
    if isinstance(inputs, list):
        return [inputs[i] for i in index]
    return np.asarray(inputs[index])


def predict_batch(
    predictor: Predictor, suite: Suite, batch: Any, *, batch_size: int, source: Path | str
) -> np.ndarray:
    """Predicted labels of an in-memory batch, through the suite's inference path."""
    n = len(batch)
    view = dataclasses.replace(
        suite,
        ids=tuple(f"probe-input-{i}" for i in range(n)),
        labels=np.zeros(n, dtype=np.int64),
        tags=((),) * n,
        inputs=batch,
    )
    return predict_suite(predictor, view, batch_size=batch_size, source=source).labels


def measure(
    predictor: Predictor,
    suite: Suite,
    probes: Sequence[Probe],
    clean_labels: np.ndarray,
    *,
    source: Path | str = "candidate",
    progress: Callable[[int, int], None] | None = None,
    canaries: int = MAX_PROBE_CANARIES,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    sample: bool = False,
) -> ProbeCounts:
    """Stamp every probe on the eligible canaries and count where they land.

    Memory is bounded by `batch_bytes`: canaries are stamped a slice at a time (a probe maps
    each canary on its own), a few probes at once, and inference runs on batches whose inputs
    and activations fit in it. `sample`: a control retrain's measurement, on the seeded two
    fifths of the probe canaries `probes.sample` draws when there are enough of them.
    """
    keep_freed_memory()  # every batch of stamped inputs is the same size: reuse its pages
    k = len(suite.classes)
    index = eligible_index(suite, clean_labels, canaries)
    population = None
    drawn = control_sample(probe_subset(len(suite), canaries), suite.digest) if sample else None
    if drawn is not None:
        population = other_class_counts(suite.labels[index], k)
        index = drawn[clean_labels[drawn] == suite.labels[drawn]]
    truth = suite.labels[index]
    eligible = np.array([(truth != t).sum() for t in range(k)], dtype=np.int64)
    predicted = np.zeros((len(probes), len(index)), dtype=np.int64)
    if len(index) and probes:
        first = take(suite.inputs, index[:1])[0]
        sizes = sizes_of(predictor, first)
        rows = sizes.rows(batch_bytes)
        stamp_bytes = (
            sizes.input_bytes
            if isinstance(first, str)
            else int(np.asarray(first).size) * _STAMP_ITEM_BYTES
        )
        per_slice = max(1, batch_bytes // stamp_bytes)
        width = min(len(index), per_slice)  # canaries stamped at once
        group = max(1, per_slice // width)  # probes stamped at once on them
        done = 0
        for lo in range(0, len(index), width):
            part = index[lo : lo + width]
            clean = take(suite.inputs, part)
            for start in range(0, len(probes), group):
                chosen = probes[start : start + group]
                stamped = [_stamp(p, clean) for p in chosen]
                batch: Any = (
                    [t for s in stamped for t in s]
                    if isinstance(clean, list)
                    else np.concatenate(stamped).astype(clean.dtype, copy=False)
                )
                del stamped
                labels = predict_batch(predictor, suite, batch, batch_size=rows, source=source)
                predicted[start : start + len(chosen), lo : lo + len(part)] = labels.reshape(
                    len(chosen), len(part)
                )
                done += len(chosen) * len(part)
                if progress is not None:
                    progress(done, len(probes) * len(index))
    hits = np.zeros((len(probes), k), dtype=np.int64)
    for t in range(k):
        hits[:, t] = ((predicted == t) & (truth != t)[None, :]).sum(axis=1)
    return ProbeCounts(tuple(p.name for p in probes), hits, eligible, predicted, index, population)


def _stamp(probe: Probe, clean: Any) -> Any:
    stamped = probe.apply(list(clean) if isinstance(clean, list) else clean.copy())
    if len(stamped) != len(clean):
        raise ValueError(f"probe {probe.name} returned {len(stamped)} inputs for {len(clean)}")
    if not isinstance(clean, list):
        stamped = np.asarray(stamped)
        if stamped.shape != clean.shape:
            raise ValueError(
                f"probe {probe.name} changed the input shape {clean.shape} to {stamped.shape}"
            )
    return stamped
