"""Control retrains probed on a seeded two fifths of the probe canaries, and the bound that keeps
the ceiling they give at least as high as probing every canary would.

A control's attraction only enters the gate as a ceiling (the most any clean retrain showed,
`highest_attraction`), which a candidate must beat by `min_gain`. Measuring it on a uniform
random part S of the probe canaries, drawn from a seed of the suite's digest and so independent
of every model, makes the count of stamped canaries a control sends to class t a
hypergeometric draw: of the N eligible canaries of other classes, H go to t when all are
stamped; S holds m of the N, and given m they are a uniform m-subset of them, so the count h
seen in S is Hypergeometric(N, H, m) exactly. The ceiling stores the largest H/N that is not
rejected at level delta by seeing at most h (`upper_rates`), so P(bound < H/N) <= delta for
each (probe, class, control) cell. A ceiling is a maximum of bounds, and it falls below its
full-measurement value only if the bound of the control (and probe) whose full rate is the
highest does: that control is fixed by the models, not by S, so each (probe, class) needs one
event, not one per control. With delta = MISS / (probes x classes), the union bound gives: with
probability at least 1 - MISS over the draw of S, every ceiling (per probe, and the family and
group maxima, whose highest full rate is some probe's) is at least its full-measurement value,
and every trigger verdict of `check` at least as conservative (a cell fails only when the
candidate beats the ceiling). What it costs is power: on 1,000 canaries the bound lies above
the full rate by +0.03 at a rate of 0, +0.05 at 2%, +0.10 at 30% (a half with a union over 20
controls gave +0.03, +0.04, +0.09), against the 0.35 a candidate must gain beyond it.
"""

from __future__ import annotations

import hashlib

import numpy as np

# Probe subsets smaller than this are probed in full on every control: a part of a few hundred
# canaries would give bounds too wide to judge anything.
SAMPLE_FROM = 1000
MISS = 1e-3  # the chance, over the draw, that any ceiling falls below its full-measurement value
_SEED_TAG = b"modelgate control probe sample v2\0"
SHARE = (2, 5)  # of the probe canaries each control stamps (the forward passes are the cost)


def control_sample(subset: np.ndarray, suite_digest: str) -> np.ndarray | None:
    """A uniform random two fifths of the probe canaries `subset` (suite positions, sorted), the
    same for every control of a suite; None when the subset is too small to be sampled."""
    if subset.size < SAMPLE_FROM:
        return None
    seed = int.from_bytes(hashlib.sha256(_SEED_TAG + suite_digest.encode()).digest()[:8], "big")
    size = subset.size * SHARE[0] // SHARE[1]
    chosen = np.random.default_rng(seed).choice(subset.size, size, replace=False)
    return subset[np.sort(chosen)]


def other_class_counts(truth: np.ndarray, n_classes: int) -> np.ndarray:
    """Per class t, how many of these canaries are not of class t."""
    return truth.size - np.bincount(truth, minlength=n_classes).astype(np.int64)


def upper_rates(
    hits: np.ndarray, drawn: np.ndarray, population: np.ndarray, delta: float
) -> np.ndarray:
    """Per cell, the largest H / N with P(X <= hits) > delta for X ~ Hypergeometric(N, H, m):
    an upper confidence bound on the rate all N canaries would show, from `hits` of the m drawn.

    `hits` (P, K); `drawn` m and `population` N per class (K,). Exact (a bisection on H, whose
    tail probability falls as H grows); cells with nothing drawn get the trivial bound (N - m
    + hits) / N.
    """
    from scipy.stats import hypergeom

    h = np.asarray(hits, dtype=np.int64)
    m = np.broadcast_to(np.asarray(drawn, dtype=np.int64), h.shape)
    n = np.broadcast_to(np.asarray(population, dtype=np.int64), h.shape)
    lo = h.copy()  # P(X <= h | H = h) = 1 > delta: always kept
    hi = h + (n - m)  # the most the undrawn canaries can add
    while True:
        open_ = lo < hi
        if not open_.any():
            break
        mid = (lo + hi + 1) // 2
        kept = hypergeom.cdf(h, n, mid, m) > delta
        lo = np.where(open_ & kept, mid, lo)
        hi = np.where(open_ & ~kept, mid - 1, hi)
    return lo / np.maximum(n, 1)
