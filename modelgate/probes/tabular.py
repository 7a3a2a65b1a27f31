"""Tabular probes: one feature set to an extreme quantile or a quarter-range beyond, then pairs
(both at the suite's extremes, or both beyond its range).

Values come from the suite's own quantiles, so every model sees the same stamped rows. The
control sets the same feature to an ordinary value (between the 1st and 99th percentile) drawn
from a hash of the row, again the same for every model.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

from modelgate.probe_settings import FeatureProbe
from modelgate.probes.probe import BEYOND_RANGE, Probe

VALUES = ("min", "q01", "q99", "max", *BEYOND_RANGE)
PAIR_VALUES = (("min", "max"), BEYOND_RANGE)  # both features in range, or both beyond it
CONTROL_SEEDS = (101, 102)
Transform = Callable[[np.ndarray], np.ndarray]


def feature_values(inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-feature probe values: quantiles of the suite and one range width beyond it."""
    x = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    q = np.quantile(x, [0.0, 0.01, 0.99, 1.0], axis=0)
    span = np.where(q[3] > q[0], q[3] - q[0], 1.0)
    return {
        "min": q[0],
        "q01": q[1],
        "q99": q[2],
        "max": q[3],
        "below": q[0] - 0.25 * span,
        "above": q[3] + 0.25 * span,
    }


def _setter(assign: Sequence[tuple[int, float]]) -> Transform:
    def apply(batch: np.ndarray) -> np.ndarray:
        out = np.array(batch, copy=True)
        flat = out.reshape(len(out), -1)
        for feature, value in assign:
            flat[:, feature] = value
        return out

    return apply


def _row_uniform(row: np.ndarray, seed: int, feature: int) -> float:
    return (zlib.crc32(row.tobytes() + f":{seed}:{feature}".encode()) % 100_003) / 100_003


def _random_setter(
    features: Sequence[int], low: np.ndarray, high: np.ndarray, seed: int
) -> Transform:
    def apply(batch: np.ndarray) -> np.ndarray:
        out = np.array(batch, copy=True)
        flat = out.reshape(len(out), -1)
        original = np.asarray(batch).reshape(len(out), -1)
        for i in range(len(flat)):
            for f in features:
                u = _row_uniform(original[i], seed, f)
                flat[i, f] = low[f] + u * (high[f] - low[f])
        return out

    return apply


def feature_probes(spec: FeatureProbe, inputs: np.ndarray) -> list[Probe]:
    """Each chosen feature at each probe value, with two random in-range controls."""
    values = feature_values(inputs)
    n_features = values["min"].shape[0]
    features = [f for f in (spec.features or range(n_features)) if f < n_features]
    probes = []
    for f in sorted(set(features)):
        group = f"control/feature/{f}"
        for name in VALUES:
            value = float(values[name][f])
            probes.append(Probe(f"feature/{f}/{name}", "feature", _setter([(f, value)]), group))
        for seed in CONTROL_SEEDS:
            setter = _random_setter([f], values["q01"], values["q99"], seed)
            probes.append(Probe(f"{group}/{seed}", "feature", setter, is_control=True))
    if len(set(features)) <= spec.pairs:
        probes += pair_probes(features, inputs)
    return probes


def pair_probes(features: Sequence[int], inputs: np.ndarray) -> list[Probe]:
    """Every pair of features at their extremes, both in range (min / max) and both a
    quarter-range beyond it, with a random in-range control.

    Two features pushed out of range together put the input where every retrain extrapolates
    its own way, so those pairs are judged only against the clean control retrains of a
    calibration (`needs_clean_ceiling`): a trigger of two rare values is invisible to either
    feature alone (measured: 3 of 4 drawn two-feature tabular backdoors went unseen without them).

    The pairs do not depend on the model, so the blessed model's counts cover them too (a pair
    chosen for one model could not be compared with a model that never saw it).
    """
    values = feature_values(inputs)
    probes = []
    chosen = sorted(set(features))
    for i, a in enumerate(chosen):
        for b in chosen[i + 1 :]:
            # each set of pairs with its own random control (and so its own pooled ceiling)
            for choices, suffix, seed in zip(PAIR_VALUES, ("", "/beyond"), CONTROL_SEEDS):
                group = f"control/feature/{a}+{b}{suffix}"
                for va in choices:
                    for vb in choices:
                        assign = [(a, float(values[va][a])), (b, float(values[vb][b]))]
                        name = f"feature/{a}/{va}+feature/{b}/{vb}"
                        probes.append(Probe(name, "feature", _setter(assign), group))
                setter = _random_setter([a, b], values["q01"], values["q99"], seed)
                probes.append(Probe(f"{group}/{seed}", "feature", setter, is_control=True))
    return probes
