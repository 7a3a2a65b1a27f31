"""Per-canary reversals: one canary moved to a class far beyond what clean churn does to it.

Instance-targeted poisoning (near-copies of one input with another label, a clean-label
collision) flips its target and leaves everything else alone, so the count tests never see
it. Clean churn moves each canary's scores by amounts that are typical of that canary and
class, and the controls show them: the statistic is the candidate's log-odds of class b over
the true class for canary i, against the controls' own mean and spread for that (i, b) cell
(the spread shrunk toward cells of similar log-odds), after removing the candidate's global
trend (a recipe that is merely more or less confident). Without controls, cells of similar
baseline log-odds in the pair being judged give the spread. Student tails fitted on the
controls judged leave-one-out (or on the pair itself), Holm over every (baseline-right
canary, other class) cell; a finding is a cell the candidate now predicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from tests.analysis.legacy_analysis.shift import MEAN_SHIFT_FLOOR
from tests.analysis.legacy_analysis.stats import MAD_TO_SD, holm_adjusted, robust_scale

PRIOR_DF = 10  # how many controls' worth of weight the band's spread gets in each cell
N_BANDS = 20  # quantile bands of the cells' log-odds for the pooled spread
MIN_SCALE = (
    1.0  # nats: log-odds near the e^-12 floor barely vary, yet a retrain moves them by whole nats
)
# A fitted tail is kept within these degrees of freedom: never lighter than t30, as the
# controls' extreme tail (one cell in 10^5: a low-margin canary that retrains send either way)
# is heavier than their 1e-3 quantiles imply.
DF_RANGE = (2.0, 30.0)
SELF_DF_CAP = 10.0  # without controls, nothing shows how rare the extreme tail really is
_TAIL_EXCEEDANCES = 20  # a tail level is matched only when this many residuals lie beyond it
TREND_BANDS = 10


@dataclass(frozen=True)
class CanaryNull:
    """What a clean retrain does to each (canary, class) log-odds cell: an expected value and
    a predictive scale per cell, with Student tails of `df` degrees of freedom and `source`
    "controls" or "self"."""

    expected: np.ndarray  # (N, K) log-odds of class b over the true class
    scale: np.ndarray  # (N, K) predictive sd; the true class's column is 1
    df: float
    source: str = "controls"


@dataclass(frozen=True)
class Reversal:
    """A canary the blessed model got right that the candidate now calls `new_class`, with
    log-odds far beyond what clean churn gives that cell."""

    index: int
    new_class: int
    base_odds: float  # blessed model's log-odds of new_class over the true class
    cand_odds: float
    expected_odds: float  # what clean churn predicts for this cell, trend included
    z: float
    p_value: float
    p_adjusted: float


def log_odds(log_probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, K) log p(b) - log p(true), both floored at e^-12 where float noise dominates; the
    true class's column is 0."""
    lp = np.maximum(np.asarray(log_probs, dtype=np.float64), MEAN_SHIFT_FLOOR)
    y = np.asarray(y, dtype=int)
    return lp - lp[np.arange(y.size), y][:, None]


def _off_diagonal(y: np.ndarray, k: int) -> np.ndarray:
    mask = np.ones((y.size, k), dtype=bool)
    mask[np.arange(y.size), y] = False
    return mask


def _band_prior(var: np.ndarray, level: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Each cell's prior variance: the mean variance of off-diagonal cells of similar level."""
    values = level[off]
    n_bands = int(min(N_BANDS, max(1, values.size // 50)))
    edges = np.quantile(values, np.linspace(0, 1, n_bands + 1)[1:-1]) if values.size else []
    band = np.searchsorted(edges, level, side="right")
    sums = np.bincount(band[off], weights=var[off], minlength=n_bands)
    counts = np.bincount(band[off], minlength=n_bands)
    means = sums / np.maximum(counts, 1)
    return means[band]


def _mean_sd(s1: np.ndarray, s2: np.ndarray, c: int, off: np.ndarray) -> tuple[np.ndarray, ...]:
    """(mean, predictive sd) per cell from the sum and sum of squares of c controls."""
    mean = s1 / c
    var = np.maximum((s2 - c * mean**2) / (c - 1), 0.0)
    prior = _band_prior(var, mean, off)
    nu = c - 1
    shrunk = (nu * var + PRIOR_DF * prior) / (nu + PRIOR_DF)
    return mean, np.maximum(np.sqrt(shrunk), MIN_SCALE) * math.sqrt(1 + 1 / c)


def fit_tail(z: np.ndarray, cap: float = DF_RANGE[1]) -> float:
    """Degrees of freedom of a Student t whose upper tail covers the empirical upper tail of
    standardised clean residuals `z`: at every level with at least 20 exceedances, and at the
    largest residual taken as the 1/(2n) quantile (the test lives in the extreme tail, and the
    largest of n clean residuals is the best evidence of it; a likelihood fit follows the bulk).
    """
    z = np.asarray(z, dtype=float)
    z = np.sort(z[np.isfinite(z)])
    if z.size < _TAIL_EXCEEDANCES:
        return DF_RANGE[0]
    grid = np.arange(DF_RANGE[0], cap + 0.5, 0.5)
    points = []
    level = 1e-2
    while level * z.size >= _TAIL_EXCEEDANCES:
        points.append((level, float(z[math.floor((1 - level) * (z.size - 1))])))
        level /= 10
    points.append((0.5 / z.size, float(z[-1])))
    df = cap
    for level, observed in points:
        covering = grid[student_t.isf(level, grid) >= observed]
        df = min(df, float(covering.max()) if covering.size else DF_RANGE[0])
    return df


def controls_cap(n_controls: int) -> float:
    """The lightest tail c controls can vouch for: t(5 + c), at most t30. A few controls see
    too few cells to show the one-in-10^5 event, so they buy less power, not more alarms."""
    return float(min(DF_RANGE[1], 5 + n_controls))


def _trend(expected: np.ndarray, observed: np.ndarray, off: np.ndarray) -> np.ndarray:
    """`expected` moved onto the observed model's own trend, written plainly: per quantile band
    of the off-diagonal expected log-odds, the median difference at the band's median level,
    interpolated between bands (the one-line robust fit it replaced lived here before)."""
    x, diff = expected[off], observed[off] - expected[off]
    if x.size == 0:
        return expected.copy()
    n_bands = int(min(TREND_BANDS, max(1, x.size // 50)))
    edges = np.quantile(x, np.linspace(0, 1, n_bands + 1)[1:-1])
    band = np.searchsorted(edges, x, side="right")
    levels = [j for j in range(n_bands) if np.any(band == j)]
    centres = [np.median(x[band == j]) for j in levels]
    shifts = [np.median(diff[band == j]) for j in levels]
    return expected + np.interp(expected, centres, shifts)


def calibrated_null(y: np.ndarray, control_log_probs: np.ndarray) -> CanaryNull:
    """The null from control retrains' log-probabilities (C, N, K), C >= 2. Its tail is fitted
    on each control judged against the others (C >= 3), which is heavier than the tail of all
    C together: a conservative fit."""
    y = np.asarray(y, dtype=int)
    c = len(control_log_probs)
    if c < 2:
        raise ValueError("a per-canary null needs at least two control retrains")
    odds = [log_odds(lp, y) for lp in control_log_probs]
    off = _off_diagonal(y, odds[0].shape[1])
    s1 = np.sum(odds, axis=0)
    s2 = np.sum([o**2 for o in odds], axis=0)
    mean, sd = _mean_sd(s1, s2, c, off)
    df = DF_RANGE[0]
    if c >= 3:
        z = []
        for o in odds:
            m_j, sd_j = _mean_sd(s1 - o, s2 - o**2, c - 1, off)
            z.append(((o - _trend(m_j, o, off)) / sd_j)[off])
        df = fit_tail(np.concatenate(z), cap=controls_cap(c))
    scale = sd.copy()
    scale[~off] = 1.0
    return CanaryNull(expected=mean, scale=scale, df=df, source="controls")


def self_null(y: np.ndarray, base_log_probs: np.ndarray, cand_log_probs: np.ndarray) -> CanaryNull:
    """Without controls: cells of similar baseline log-odds in this pair give the spread, and
    the tail is fitted on the pair itself (a few attacked canaries only make it heavier)."""
    y = np.asarray(y, dtype=int)
    base, cand = log_odds(base_log_probs, y), log_odds(cand_log_probs, y)
    off = _off_diagonal(y, base.shape[1])
    resid = cand - _trend(base, cand, off)
    values = base[off]
    n_bands = int(min(N_BANDS, max(1, values.size // 50)))
    edges = np.quantile(values, np.linspace(0, 1, n_bands + 1)[1:-1])
    band = np.searchsorted(edges, base, side="right")
    scale = np.ones_like(base)
    for j in np.unique(band[off]):
        members = off & (band == j)
        scale[members] = robust_scale(resid[members], MIN_SCALE)[1]
    df = fit_tail((resid / scale)[off], cap=SELF_DF_CAP)
    scale[~off] = 1.0
    return CanaryNull(expected=base, scale=scale, df=df, source="self")


def reversal_z(
    null: CanaryNull, y: np.ndarray, cand_log_probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(z, expected log-odds), each (N, K): the candidate's log-odds against the null after its
    own global trend; the scale widens (never narrows) when the candidate churns more overall."""
    y = np.asarray(y, dtype=int)
    cand = log_odds(cand_log_probs, y)
    off = _off_diagonal(y, cand.shape[1])
    expected = _trend(null.expected, cand, off)
    z = (cand - expected) / null.scale
    inner = z[off]
    spread = MAD_TO_SD * float(np.median(np.abs(inner - np.median(inner)))) if inner.size else 1.0
    z = z / max(1.0, spread)
    z[~off] = -np.inf
    return z, expected


def reversal_test(
    y: np.ndarray,
    base_labels: np.ndarray,
    cand_labels: np.ndarray,
    base_log_probs: np.ndarray,
    cand_log_probs: np.ndarray,
    null: CanaryNull,
    alpha: float,
) -> list[Reversal]:
    """Cells (baseline-right canary, other class) beyond clean churn, Holm over all of them;
    returns the significant cells the candidate now predicts, most significant first."""
    y = np.asarray(y, dtype=int)
    cand_labels = np.asarray(cand_labels, dtype=int)
    z, expected = reversal_z(null, y, cand_log_probs)
    family = _off_diagonal(y, z.shape[1]) & (np.asarray(base_labels) == y)[:, None]
    rows, cols = np.nonzero(family)
    if rows.size == 0:
        return []
    p = student_t.sf(z[rows, cols], df=null.df)
    adjusted = holm_adjusted(p)
    hit = (adjusted <= alpha) & (cand_labels[rows] == cols)
    if not hit.any():
        return []
    base = log_odds(base_log_probs, y)
    cand = log_odds(cand_log_probs, y)
    out = [
        Reversal(int(i), int(b), float(base[i, b]), float(cand[i, b]), float(expected[i, b]),
                 float(z[i, b]), float(pv), float(pa))
        for i, b, pv, pa in zip(rows[hit], cols[hit], p[hit], adjusted[hit])
    ]  # fmt: skip
    return sorted(out, key=lambda r: (r.p_value, r.index))
