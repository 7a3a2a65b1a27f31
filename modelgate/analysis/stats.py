"""Small exact statistics the churn tests are built from.

Each function is a textbook quantity kept here, tested against a hand computation and scipy,
so the tests in `churn` read as statistics rather than as array plumbing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from modelgate.analysis.cells import row_blocks
from modelgate.analysis.tails import binom_sf, nbinom_sf, poisson_sf

# 1.4826 * MAD estimates the standard deviation of a normal sample (1 / Phi^-1(3/4)).
MAD_TO_SD = 1.4826
# sqrt(pi/2): mean absolute deviation -> standard deviation, the fallback when the MAD is 0.
MEANAD_TO_SD = 1.2533141373155001


def mcnemar_exact(n_neg: int, n_pos: int) -> float:
    """One-sided exact McNemar p-value that right->wrong flips outnumber wrong->right ones.

    P(X >= n_neg) for X ~ Binomial(n_neg + n_pos, 1/2); 1.0 when there are no discordant pairs.
    """
    if n_neg < 0 or n_pos < 0:
        raise ValueError(f"flip counts must be >= 0, got {n_neg}, {n_pos}")
    n = n_neg + n_pos
    if n == 0 or n_neg == 0:
        return 1.0
    return float(min(1.0, binom_sf(n_neg - 1, n, 0.5)))


def holm_adjusted(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (monotone in rank, capped at 1), in the input order."""
    p = np.asarray(p_values, dtype=float).reshape(-1)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must be finite and in [0, 1]")
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


def holm(p_values: Sequence[float] | np.ndarray, alpha: float) -> list[bool]:
    """Holm rejections at family-wise level `alpha`: valid under any dependence between tests."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return [bool(a <= alpha) for a in holm_adjusted(p_values)]


def poisson_upper(observed: int, expected: float) -> float:
    """P(X >= observed) for X ~ Poisson(expected): how surprising a count this large is."""
    if observed <= 0:
        return 1.0
    if expected <= 0:
        return 0.0
    return float(poisson_sf(observed - 1, expected))


def negbin_upper(observed: int, mean: float, size: float) -> float:
    """P(X >= observed) for an overdispersed count with the given mean and NB `size` parameter.

    Parametrised so that variance = mean * (1 + mean / size) (scipy's nbinom(n=size,
    p=size / (size + mean))); size = inf is the Poisson limit.
    """
    if size <= 0 or math.isnan(size):
        raise ValueError(f"size must be > 0, got {size}")
    if observed <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if math.isinf(size) or size > 1e9 * max(mean, 1.0):  # Poisson to double precision
        return poisson_upper(observed, mean)
    return float(nbinom_sf(observed - 1, size, size / (size + mean)))


def size_for_overdispersion(mean: float, overdispersion: float) -> float:
    """The NB `size` whose variance/mean ratio is `overdispersion` at this mean (inf when <= 1)."""
    if overdispersion <= 1.0 + 1e-12:
        return math.inf
    return mean / (overdispersion - 1.0)


def margins(logp: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Margin of each canary: log p(true) - max log p(other); positive means predicted right."""
    logp = np.asarray(logp)
    if logp.dtype not in (np.float32, np.float64):
        logp = logp.astype(float)
    y = np.asarray(y, dtype=int)
    if logp.ndim != 2 or logp.shape[1] < 2 or y.shape != (logp.shape[0],):
        raise ValueError(f"need logp (N, K>=2) and y (N,), got {logp.shape} and {y.shape}")
    # The maximum is exact in the scores' own precision (float32 scores stay float32 until
    # the subtraction), so no float64 copy of every score is made; a block of canaries at a
    # time, so no copy of every score at all (each row's margin is its own).
    out = np.empty(y.size)
    for sl in row_blocks(y.size):
        rows, truth = np.arange(sl.stop - sl.start), y[sl]
        other = logp[sl].copy()
        other[rows, truth] = -np.inf
        best = other.max(axis=1).astype(float)
        out[sl] = logp[sl][rows, truth].astype(float) - best
    return out


def line_fit(x: np.ndarray, y: np.ndarray, *, overwrite: bool = False) -> tuple[float, float]:
    """(slope, intercept) of the least squares line of y on x, from centred sums: the line of
    `np.polyfit(x, y, 1)` to rounding, without its (n, 2) Vandermonde matrix and SVD.
    `overwrite`: x and y (float64, one axis) serve as the centred sums' scratch space, the same
    arithmetic without two more copies (at 10^7 points each is 80 MB)."""
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    mx, my = float(x.mean()), float(y.mean())
    dx = np.subtract(x, mx, out=x if overwrite else None)
    sxx = float(dx @ dx)
    if sxx <= 0:  # every x equal (dx is all 0, so dx + mx is x): polyfit's least-norm answer
        slope, intercept = np.polyfit(dx + mx if overwrite else x, y, 1)
        return float(slope), float(intercept)
    slope = float(dx @ np.subtract(y, my, out=y if overwrite else None)) / sxx
    return slope, my - slope * mx


def robust_scale(values: np.ndarray, min_scale: float = 1e-6) -> tuple[float, float]:
    """(median, scale) with scale = 1.4826 * MAD, falling back to the mean absolute deviation
    and then `min_scale`, so that a few equal values cannot make every deviation infinite."""
    # One copy of the values serves both medians: a median does not depend on the order the
    # partition leaves behind, so the deviations are taken in place (at 10^7 cells each array
    # is 80 MB, and every one of them is a pass over memory).
    work = np.array(values, dtype=float).reshape(-1)
    if work.size == 0:
        return 0.0, float(min_scale)
    loc = float(np.median(work, overwrite_input=True))
    work -= loc
    np.abs(work, out=work)
    scale = MAD_TO_SD * float(np.median(work, overwrite_input=True))
    if scale < min_scale:  # the mean of the deviations summed in their own order, as before
        work = np.subtract(np.asarray(values, dtype=float).reshape(-1), loc, out=work)
        np.abs(work, out=work)
        scale = MEANAD_TO_SD * float(np.mean(work))
    return loc, max(scale, float(min_scale))


def robust_z(values: Sequence[float] | np.ndarray, min_scale: float = 1e-6) -> np.ndarray:
    """(x - median) / (1.4826 * MAD), the scale floored as in `robust_scale`."""
    x = np.asarray(values, dtype=float)
    loc, scale = robust_scale(x, min_scale)
    return (x - loc) / scale
