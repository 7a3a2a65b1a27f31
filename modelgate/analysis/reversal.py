"""Per-canary reversals: one canary moved to a class far beyond what clean churn does to it.

Instance-targeted poisoning (near-copies of one input with another label, a clean-label
collision) flips its target and leaves everything else alone, so the count tests never see
it. Clean churn moves each canary's scores by amounts that are typical of that canary and
class, and the controls show them: the statistic is the candidate's log-odds of class b over
the true class for canary i, against the controls' own mean and spread for that (i, b) cell
(the spread shrunk toward cells of similar log-odds), after removing the candidate's global
trend (a recipe that is merely more or less confident; fitted per band of log-odds, as such a
recipe moves far cells more than near ones). Without controls, cells of similar baseline
log-odds in the pair being judged give the spread. Student tails fitted on the controls judged
leave-one-out (or on the pair itself). A finding is a cell the candidate now predicts, so the
family-wise bound charges each (baseline-right canary, other class) cell only the chance of
reaching both the finding's z and a flip (`FlipWeightedFamily`): cells that clean churn cannot
flip spend almost no alpha. Half the alpha names single cells; the other half names the k most
extreme predicted cells together (k = 2..10) when that many cells that far is a count clean
churn does not give: an attack on several canaries, each short of the single-cell line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from modelgate.analysis.cells import Block, Cells, Values, off_diagonal, table_values
from modelgate.analysis.shift import MEAN_SHIFT_FLOOR
from modelgate.analysis.stats import MAD_TO_SD, robust_scale
from modelgate.analysis.tails import t_isf, t_sf

PRIOR_DF = 10  # how many controls' worth of weight the band's spread gets in each cell
N_BANDS = 20  # quantile bands of the cells' log-odds for the pooled spread
MIN_SCALE = (
    1.0  # nats: log-odds near the e^-12 floor barely vary, yet a retrain moves them by whole nats
)
# A fitted tail is kept within these degrees of freedom: never lighter than t60, as the
# controls' extreme tail (one cell in 10^5: a low-margin canary that retrains send either way)
# is heavier than their 1e-3 quantiles imply; `controls_cap` says how light c models allow.
DF_RANGE = (2.0, 60.0)
SELF_DF_CAP = 10.0  # without controls, nothing shows how rare the extreme tail really is
_TAIL_EXCEEDANCES = 20  # a tail level is matched only when this many residuals lie beyond it
TREND_BANDS = 10  # quantile bands of the null's log-odds for the candidate's own trend
# Half the test's alpha goes to single cells, half to sets of 2..JOINT_MAX cells that moved
# together (each set size an equal part): an attack on five canaries rarely pushes one of them
# past the single-cell line, yet five cells that far are a count clean churn does not give.
SINGLE_SHARE = 0.5
JOINT_MAX = 10


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
    together: int = 1  # 1: significant alone; k: as one of the k most extreme cells, jointly


def log_odds(log_probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, K) log p(b) - log p(true), both floored at e^-12 where float noise dominates; the
    true class's column is 0."""
    lp = np.array(log_probs, dtype=np.float64)  # a copy of its own, floored in place
    np.maximum(lp, MEAN_SHIFT_FLOOR, out=lp)
    y = np.asarray(y, dtype=int)
    lp -= lp[np.arange(y.size), y][:, None]
    return lp


def _cell_odds(
    log_probs: np.ndarray, y: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """`log_odds` at the cells (rows, cols) only, with the same floating-point steps."""
    lp = np.asarray(log_probs)
    cell = np.maximum(lp[rows, cols].astype(np.float64), MEAN_SHIFT_FLOOR)
    return cell - np.maximum(lp[rows, y[rows]].astype(np.float64), MEAN_SHIFT_FLOOR)


def _odds(log_probs: np.ndarray, y: np.ndarray) -> Values:
    """The cells of `log_odds(log_probs, y)`, computed a block at a time."""
    return lambda b: log_odds(log_probs[b.rows], y[b.rows])[b.off]


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
    z = np.asarray(z, dtype=float).reshape(-1)
    return _fit_tail_of(z[np.isfinite(z)], cap)  # a copy: it is partitioned in place


def _fit_tail_of(z: np.ndarray, cap: float) -> float:
    """`fit_tail` of finite residuals `z`, which it partitions in place."""
    if z.size < _TAIL_EXCEEDANCES:
        return DF_RANGE[0]
    grid = np.arange(DF_RANGE[0], cap + 0.5, 0.5)
    levels = []
    level = 1e-2
    while level * z.size >= _TAIL_EXCEEDANCES:
        levels.append((level, math.floor((1 - level) * (z.size - 1))))
        level /= 10
    # only these order statistics are needed: a partition, not a sort of every residual
    ranks = sorted({r for _, r in levels} | {z.size - 1})
    z.partition(ranks)
    points = [(lv, float(z[r])) for lv, r in levels]
    points.append((0.5 / z.size, float(z[-1])))
    df = cap
    for level, observed in points:
        covering = grid[t_isf(level, grid) >= observed]
        df = min(df, float(covering.max()) if covering.size else DF_RANGE[0])
    return df


def controls_cap(n_controls: int) -> float:
    """The lightest tail c models can vouch for: t(5 + c) up to 10, then three degrees more for
    each further model (each is judged against the rest: one more suite's worth of residuals
    for the fit to see the extreme tail in), at most t60. A few controls see too few cells to
    show the one-in-10^5 event, so they buy less power, not more alarms; measured, t(5 + 3c)
    with 4 controls flagged 3 of 600 clean image judgments, while with 20 controls this cap
    flagged 0 of 600 on images and text (the image tail is fitted heavier than the cap anyway)."""
    return float(min(DF_RANGE[1], 5 + n_controls + 2 * max(0, n_controls - 10)))


def _trend(expected: np.ndarray, observed: np.ndarray, off: np.ndarray) -> np.ndarray:
    """`expected` moved onto the observed model's own trend: in each quantile band of the
    expected log-odds (off-diagonal cells), the median of observed - expected, placed at the
    band's median expected value and interpolated linearly between bands (constant beyond).

    Not one line for all cells: a more confident recipe moves cells far from the flip line by
    nats and cells near it barely, and a line fitted on every cell (most of them far) pushed a
    confident clean retrain's low-margin cells 3 nats below where they sat (measured: four
    moderate reversals at once in one clean image retrain). Medians of at least 50 cells a
    band: a handful of attacked canaries cannot move them."""
    cells = Cells(off)
    curve = _trend_curve(
        cells, table_values(expected), table_values(observed), np.empty(cells.size)
    )
    return _apply(curve, expected)


Curve = tuple[list[float], list[float]] | None  # the trend's band centres and shifts


def _band_medians(starts: np.ndarray, grouped: np.ndarray) -> list[float]:
    """The median of each non-empty band of `grouped` (partitioned in place)."""
    return [
        float(np.median(grouped[lo:hi], overwrite_input=True))
        for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist())
        if hi > lo  # ties at a quantile leave a band empty
    ]


def _quantiles(values: np.ndarray, *n_bands: int) -> list[np.ndarray]:
    """The inner edges of `n` quantile bands of `values` for each n, from one partition of
    `values` (done in place; the result depends only on the values, not on their order)."""
    qs = [np.linspace(0, 1, n + 1)[1:-1] for n in n_bands]
    edges = np.quantile(values, np.concatenate(qs), overwrite_input=True)
    return np.split(edges, np.cumsum([q.size for q in qs])[:-1])


def _trend_curve(
    cells: Cells,
    expected: Values,
    observed: Values,
    buf: np.ndarray,
    edges: np.ndarray | None = None,
) -> Curve:
    """The trend `_trend` applies, fitted with one cell buffer `buf` (overwritten); None
    without cells. `edges`: its bands' edges, when the caller has them."""
    if cells.size == 0:
        return None
    n_bands = int(min(TREND_BANDS, max(1, cells.size // 50)))
    if edges is None:
        (edges,) = _quantiles(cells.gather(expected, buf), n_bands)
    band = cells.bands(expected, edges)  # < TREND_BANDS
    centres = _band_medians(cells.grouped(expected, band, n_bands, buf), buf)
    shifts = _band_medians(
        cells.grouped(lambda b: observed(b) - expected(b), band, n_bands, buf), buf
    )
    return centres, shifts


def _apply(curve: Curve, expected: np.ndarray) -> np.ndarray:
    """`expected` moved by the trend `curve` (a new array)."""
    if curve is None:
        return np.array(expected)
    return expected + np.interp(expected, *curve)


def _moved(expected: Values, curve: Curve) -> Values:
    return lambda b: _apply(curve, expected(b))


def _standardised(observed: Values, moved: Values, scale: Values) -> Values:
    """(observed - moved) / scale, cell by cell."""

    def values(b: Block) -> np.ndarray:
        z = observed(b) - moved(b)
        z /= scale(b)
        return z

    return values


def calibrated_null(
    y: np.ndarray, control_log_probs: np.ndarray, blessed_log_probs: np.ndarray | None = None
) -> CanaryNull:
    """The null from control retrains' log-probabilities (C, N, K), C >= 2, and the blessed
    model's own (N, K), which is one more clean retrain: where it sits apart from the controls
    (a low-margin canary the controls agree on and the blessed model does not), the spread of
    that cell must say so, or a candidate that merely lands where the blessed model was reads
    as a reversal (measured: 1 of 20 digits controls judged against the other 19 failed so, 0
    with the blessed model counted, which also gained power). Its tail is fitted on each model
    judged against the others (3 or more), which is heavier than the tail of all together: a
    conservative fit."""
    y = np.asarray(y, dtype=int)
    if len(control_log_probs) < 2:
        raise ValueError("a per-canary null needs at least two control retrains")
    models = list(control_log_probs)
    if blessed_log_probs is not None:
        models.append(blessed_log_probs)
    c = len(models)
    odds = [log_odds(lp, y) for lp in models]
    off = off_diagonal(y, odds[0].shape[1])
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


@dataclass(frozen=True)
class _BandScale:
    """The self null's scale: one robust scale per quantile band of the baseline's log-odds
    (`band`: each cell's)."""

    edges: np.ndarray
    scales: np.ndarray
    band: np.ndarray

    def at(self, level: np.ndarray) -> np.ndarray:
        return self.scales[np.searchsorted(self.edges, level, side="right")]

    def values(self, b: Block) -> np.ndarray:
        return self.scales[self.band[b.cells]]


def _self_fit(
    cells: Cells, base: Values, cand: Values, buf: np.ndarray
) -> tuple[Curve, _BandScale]:
    """The candidate's trend on the baseline's log-odds, and the robust scale of what is left
    in each band of baseline log-odds (`self_null`), with one cell buffer `buf`."""
    n_trend = int(min(TREND_BANDS, max(1, cells.size // 50)))
    n_bands = int(min(N_BANDS, max(1, cells.size // 50)))
    trend_edges, edges = _quantiles(cells.gather(base, buf), n_trend, n_bands)
    curve = _trend_curve(cells, base, cand, buf, trend_edges)
    band = cells.bands(base, edges)  # < N_BANDS
    moved = _moved(base, curve)
    # each band's residuals in cell order, as a boolean mask per band would give them
    starts = cells.grouped(lambda b: cand(b) - moved(b), band, n_bands, buf)
    scales = np.ones(n_bands)
    for j, (lo, hi) in enumerate(zip(starts[:-1].tolist(), starts[1:].tolist())):
        if hi > lo:
            scales[j] = robust_scale(buf[lo:hi], MIN_SCALE)[1]
    return curve, _BandScale(edges, scales, band)


def _self_df(z: np.ndarray) -> float:
    """The self null's tail, fitted on the pair's standardised residuals `z` (partitioned)."""
    finite = np.isfinite(z)
    return _fit_tail_of(z if finite.all() else z[finite], SELF_DF_CAP)


def self_null(y: np.ndarray, base_log_probs: np.ndarray, cand_log_probs: np.ndarray) -> CanaryNull:
    """Without controls: cells of similar baseline log-odds in this pair give the spread, and
    the tail is fitted on the pair itself (a few attacked canaries only make it heavier).
    `reversal_test` with no null computes the same null without its (N, K) tables."""
    y = np.asarray(y, dtype=int)
    base = log_odds(base_log_probs, y)
    off = off_diagonal(y, base.shape[1])
    cells = Cells(off)
    buf = np.empty(cells.size)
    level, cand = table_values(base), _odds(cand_log_probs, y)
    curve, band_scale = _self_fit(cells, level, cand, buf)
    z = cells.gather(_standardised(cand, _moved(level, curve), band_scale.values), buf)
    df = _self_df(z)
    scale = band_scale.at(base)
    scale[~off] = 1.0
    return CanaryNull(expected=base, scale=scale, df=df, source="self")


def reversal_z(
    null: CanaryNull, y: np.ndarray, cand_log_probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, expected log-odds, z at the flip), each (N, K): the candidate's log-odds against the
    null after its own global trend (the scale widens, never narrows, when the candidate churns
    more overall), and the z at which each cell's log-odds reach 0, below which the candidate
    cannot predict that class."""
    y = np.asarray(y, dtype=int)
    z = log_odds(cand_log_probs, y)
    off = off_diagonal(y, z.shape[1])
    expected = _trend(null.expected, z, off)
    z -= expected  # in place: (candidate log-odds - expected) / scale, as before
    z /= null.scale
    spread = 1.0
    inner = z[off]
    if inner.size:
        inner -= np.median(inner)
        np.abs(inner, out=inner)
        spread = MAD_TO_SD * float(np.median(inner, overwrite_input=True))
    del inner
    z /= max(1.0, spread)
    z[~off] = -np.inf
    at_flip = expected / null.scale
    at_flip *= -1.0 / max(1.0, spread)  # in place: (0 - expected) / (scale x spread)
    return z, expected, at_flip


def far_z(size: int, df: float, alpha: float) -> float:
    """The z beyond which a family of `size` cells charges each cell the same bound."""
    return float(t_isf(alpha / (1000.0 * max(size, 1)), df))


class FlipWeightedFamily:
    """The family-wise bound of the reversal test: sum over every cell c of the family of
    P(z_c > max(t, z0_c)), where z0_c is the z at which cell c's log-odds reach 0.

    A finding needs the candidate to predict the cell's class, which needs the cell's log-odds
    above 0, so the event "this cell is reported with z > t" lies inside "z_c > max(t, z0_c)":
    the union bound over cells is a valid family-wise error bound (Bonferroni with each cell
    weighted by how far it is from flipping). A cell at the e^-12 floor can only be reported
    with a z it essentially never reaches under the null, so it spends almost none of alpha;
    the power goes to cells that clean churn can actually flip, which is where an attack on a
    low-margin canary lands. Cells beyond `far` are each charged sf(far), an upper bound, so only
    near cells are sorted.
    """

    def __init__(
        self, at_flip: np.ndarray, df: float, alpha: float, size: int | None = None
    ) -> None:
        """`at_flip`: every cell's z at the flip; or, with `size` (the family's size), an array
        of this object's own holding those of its cells below `far_z(size, df, alpha)`."""
        self.df = df
        m = at_flip.size if size is None else size
        self.far = far_z(m, df, alpha)
        if size is None:
            near = np.sort(at_flip[at_flip < self.far])
        else:  # the caller's own array of near cells: sorted in place
            near = at_flip
            near.sort()
        self.near = near
        self.n_far = m - near.size
        # suffix sums of sf(z0) over the sorted near cells: the cells that still cost sf(z0)
        self.suffix = np.zeros(near.size + 1)
        np.cumsum(t_sf(near, df)[::-1], out=self.suffix[-2::-1])

    def expected_count(self, z: np.ndarray) -> np.ndarray:
        """How many cells of the family clean churn reports with a value beyond z, at most:
        the sum over cells of P(z_c > max(z, z0_c))."""
        z = np.asarray(z, dtype=float)
        below = np.searchsorted(self.near, z, side="right")  # near cells with z0 <= z
        bound = below * t_sf(z, self.df) + self.suffix[below]
        bound += self.n_far * t_sf(np.maximum(z, self.far), self.df)
        return bound

    def adjusted(self, z: np.ndarray) -> np.ndarray:
        """The family-wise p-value of a cell reported with standardised value z."""
        return np.minimum(self.expected_count(z), 1.0)


def count_tail(k: int, mean: float) -> float:
    """Chernoff's bound on P(at least k of many independent rare events) whose expected count
    is at most `mean`: e^-mean (e mean / k)^k for k > mean, else 1 (it grows with mean, so an
    upper bound on the mean gives an upper bound on the probability)."""
    if mean >= k:
        return 1.0
    if mean <= 0:
        return 0.0
    return math.exp(-mean + k * (1.0 + math.log(mean / k)))


def _joint_adjusted(family: FlipWeightedFamily, z_hit: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per predicted cell, the adjusted p-value of the most significant set of the k most
    extreme predicted cells (2 <= k <= JOINT_MAX) it belongs to, and that k (0: in none).

    Rejecting the set of the k most extreme cells at level a_k when count_tail(k, E N(t_k)) <=
    a_k, t_k the k-th largest z, is rejecting when N(tau_k) >= k for the fixed tau_k at which
    the bound equals a_k: an error of at most a_k, if clean churn moves different canaries
    independently once the candidate's own trend is removed (measured on the controls and
    clean retrains of three modalities; the trend is fitted per band for this reason). The
    union over k charges each its part of the joint share."""
    n = z_hit.size
    p_set = np.ones(n)
    size = np.zeros(n, dtype=int)
    top = min(JOINT_MAX, n)
    if top < 2:
        return p_set, size
    order = np.argsort(-z_hit, kind="stable")[:top]
    means = family.expected_count(z_hit[order])
    parts = (JOINT_MAX - 1) / (1.0 - SINGLE_SHARE)
    best, best_k = 1.0, 0
    for k in range(top, 1, -1):  # a cell of rank r belongs to every set of k > r cells
        p_k = min(1.0, count_tail(k, float(means[k - 1])) * parts)
        if p_k < best:
            best, best_k = p_k, k
        p_set[order[k - 1]], size[order[k - 1]] = best, best_k
    p_set[order[0]], size[order[0]] = best, best_k
    return p_set, size


def reversal_test(
    y: np.ndarray,
    base_labels: np.ndarray,
    cand_labels: np.ndarray,
    base_log_probs: np.ndarray,
    cand_log_probs: np.ndarray,
    null: CanaryNull | None,
    alpha: float,
) -> list[Reversal]:
    """Cells (baseline-right canary, class the candidate now predicts) beyond clean churn, with
    the family-wise bound over every (baseline-right canary, other class) cell weighted by how
    far each is from flipping (`FlipWeightedFamily`); most significant first. `null` None: the
    `self_null` of this pair.

    The statistics of `reversal_z`, computed a block of canaries at a time with one buffer of
    the cells' values for the quantiles and medians (at 10^6 canaries each (N, K) table is
    80 MB): value for value the same numbers."""
    y = np.asarray(y, dtype=int)
    cand_labels = np.asarray(cand_labels, dtype=int)
    k = np.asarray(cand_log_probs).shape[1]
    right = np.asarray(base_labels) == y
    n_family = int(right.sum()) * (k - 1)  # (baseline-right canary, other class) cells
    if n_family == 0:
        return []
    cells = Cells(y=y, k=k)  # the off-diagonal cells, never their whole mask
    buf = np.empty(cells.size)
    cand = _odds(cand_log_probs, y)
    band_scale: _BandScale | None = None
    scale: Values
    if null is None:
        expected = _odds(base_log_probs, y)
        curve, band_scale = _self_fit(cells, expected, cand, buf)
        scale = band_scale.values
    else:
        expected, scale = table_values(null.expected), table_values(null.scale)
        curve = _trend_curve(cells, expected, cand, buf)
    moved = _moved(expected, curve)
    z_all = cells.gather(_standardised(cand, moved, scale), buf)
    df = _self_df(z_all) if null is None else null.df  # the multiset of z_all is kept
    spread = 1.0
    if z_all.size:  # the scale widens, never narrows, when the candidate churns more overall
        z_all -= np.median(z_all, overwrite_input=True)
        np.abs(z_all, out=z_all)
        spread = max(1.0, MAD_TO_SD * float(np.median(z_all, overwrite_input=True)))
    del z_all, buf
    far, to_flip = far_z(n_family, df, alpha), -1.0 / spread
    near = []
    for b in cells.blocks():  # the z at which each family cell's log-odds reach 0
        at_flip = moved(b)
        at_flip /= scale(b)
        at_flip *= to_flip
        at_flip = at_flip[right[b.rows, None].repeat(k, axis=1)[b.off]]
        near.append(at_flip[at_flip < far])
    bound = FlipWeightedFamily(np.concatenate(near), df, alpha, size=n_family)
    del near
    # Only the cells the candidate now predicts can be findings.
    rows = np.flatnonzero(right & (cand_labels != y))
    if rows.size == 0:
        return []
    cols = cand_labels[rows]
    if band_scale is None:
        assert null is not None
        level, cell_scale = null.expected[rows, cols], null.scale[rows, cols]
    else:
        level = _cell_odds(base_log_probs, y, rows, cols)
        cell_scale = band_scale.at(level)
    moved_hit = _apply(curve, level)
    z_hit = _cell_odds(cand_log_probs, y, rows, cols) - moved_hit
    z_hit /= cell_scale
    z_hit /= spread
    single = np.minimum(bound.adjusted(z_hit) / SINGLE_SHARE, 1.0)
    joint, size = _joint_adjusted(bound, z_hit)
    alone = (single <= alpha) | (single <= joint)  # named alone wherever it passes alone
    adjusted = np.where(alone, single, joint)
    together = np.where(alone, 1, size)
    hit = adjusted <= alpha
    if not hit.any():
        return []
    p = t_sf(z_hit, df)
    i_hit, b_hit = rows[hit], cols[hit]
    base = _cell_odds(base_log_probs, y, i_hit, b_hit)
    cand_odds = _cell_odds(cand_log_probs, y, i_hit, b_hit)
    out = [
        Reversal(int(i), int(b), float(bo), float(co), float(e), float(z), float(pv), float(pa),
                 int(k))
        for i, b, bo, co, e, z, pv, pa, k in zip(
            i_hit, b_hit, base, cand_odds, moved_hit[hit], z_hit[hit], p[hit], adjusted[hit],
            together[hit],
        )
    ]  # fmt: skip
    return sorted(out, key=lambda r: (r.p_value, r.index))
