"""The attraction shift statistic: how far each class pair's scores moved, beyond global drift.

A targeted label flip a -> b nudges every canary of class a toward b, even the many that do
not cross the decision boundary; a clean retrain moves all class pairs alike. This module
measures the move per (a, b) cell on one scale, so the cells can be compared with each other
(Efron's empirical null) or with control retrains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from modelgate.analysis.cells import Cells
from modelgate.analysis.stats import line_fit
from modelgate.analysis.tails import norm_isf, norm_sf, t_sf

LOGP_FLOOR = -100.0  # log-probabilities below float32 resolution carry no signal, only noise
# For the calibrated cell means: below e^-12 (~6e-6) a probability's log moves by whole nats
# between clean retrains without any change in behaviour; chosen on the digits benchmark.
MEAN_SHIFT_FLOOR = -12.0
_MIN_CLASSES_TO_CENTRE = 5
_Z_CAP = 37.0  # norm.isf of the smallest double: beyond it a shift is simply "certain"


@dataclass(frozen=True)
class ShiftNull:
    """Per-cell location and spread of the shift statistic across clean control retrains."""

    mean: tuple[tuple[float, ...], ...]
    sd: tuple[tuple[float, ...], ...]
    df: float = math.inf  # degrees of freedom behind `sd`: few controls -> Student tails

    def z(self, t: np.ndarray) -> np.ndarray:
        return (t - np.asarray(self.mean)) / np.asarray(self.sd)

    def upper_p(self, z: float) -> float:
        return float(norm_sf(z) if math.isinf(self.df) else t_sf(z, self.df))


def shift_deltas(y: np.ndarray, base_logp: np.ndarray, cand_logp: np.ndarray) -> np.ndarray:
    """delta[i, b]: how far canary i moved toward class b, beyond a global confidence change.

    The raw move is (candidate log-odds of b over the true class) - (baseline log-odds); a
    retrain that is merely more or less confident scales every log-odds alike, so the least
    squares line of raw moves on baseline log-odds, over all canaries and classes, is removed.
    The true class's own column is 0.
    """
    y = np.asarray(y, dtype=int)
    base_logp, cand_logp = np.asarray(base_logp), np.asarray(cand_logp)
    cells = Cells(y=y, k=base_logp.shape[1])  # the wrong-class cells

    def moves(rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """(raw moves, baseline log-odds) of canaries `rows`, each (n, K) float64."""
        base = np.array(base_logp[rows], dtype=float)
        np.maximum(base, LOGP_FLOOR, out=base)
        raw = np.array(cand_logp[rows], dtype=float)
        np.maximum(raw, LOGP_FLOOR, out=raw)
        at, truth = np.arange(base.shape[0]), y[rows]
        raw -= base  # the raw move: candidate minus baseline log-probabilities
        raw -= raw[at, truth][:, None]
        base -= base[at, truth][:, None]  # the baseline log-odds against the true class
        return raw, base

    # The line is fitted on the wrong-class cells (every class but the true one) gathered a
    # block of canaries at a time, in the order `x[wrong]` gives them, and the moves are made
    # a block at a time: at 10^6 canaries each (N, K) float64 table is 80 MB, and the
    # arithmetic is the same either way.
    line = None
    if cells.size >= 3:
        xw = cells.gather(lambda b: moves(b.rows)[1][b.off], np.empty(cells.size))
        if np.ptp(xw) > 0:
            raw_w = cells.gather(lambda b: moves(b.rows)[0][b.off], np.empty(cells.size))
            line = line_fit(xw, raw_w, overwrite=True)
            del raw_w
        del xw
    out = np.empty(base_logp.shape)
    for b in cells.blocks():
        raw, x = moves(b.rows)
        if line is not None:
            trend = np.multiply(x, line[0], out=x)
            trend += line[1]
            raw -= trend
        raw[~b.off] = 0.0
        out[b.rows] = raw
    return out


def shift_statistics(
    y: np.ndarray,
    base_logp: np.ndarray,
    cand_logp: np.ndarray,
    *,
    deltas: np.ndarray | None = None,
) -> np.ndarray:
    """z[a, b]: the t statistic (mean / standard error) of `shift_deltas` toward b over canaries
    of class a, mapped to a z-value through Student's t with n_a - 1 degrees of freedom.

    The mapping (Efron's z-values) puts classes with few canaries on one scale with the rest.
    NaN on the diagonal; 0 for a class with fewer than two canaries. `deltas`: the
    `shift_deltas` of these scores, when the caller already has them.
    """
    y = np.asarray(y, dtype=int)
    k = np.asarray(base_logp).shape[1]
    delta = shift_deltas(y, base_logp, cand_logp) if deltas is None else deltas
    z = np.zeros((k, k))
    for a in range(k):
        rows = delta[y == a]
        n = rows.shape[0]
        if n >= 2:
            t = rows.mean(axis=0) / (rows.std(axis=0, ddof=1) / np.sqrt(n) + 1e-9)
            z[a] = np.clip(norm_isf(t_sf(t, n - 1)), -_Z_CAP, _Z_CAP)
    np.fill_diagonal(z, np.nan)
    return z


def cell_mean_shift(y: np.ndarray, base_logp: np.ndarray, cand_logp: np.ndarray) -> np.ndarray:
    """s[a, b]: the mean move, in nats, of canaries of class a toward b (NaN on the diagonal).

    The plain mean, with no per-pair rescaling: against control retrains each cell has its
    own null, so the statistic only needs to be on the same scale as the controls' one.
    """
    y = np.asarray(y, dtype=int)
    base = np.maximum(np.asarray(base_logp, dtype=float), MEAN_SHIFT_FLOOR)
    cand = np.maximum(np.asarray(cand_logp, dtype=float), MEAN_SHIFT_FLOOR)
    moved = cand - base
    k = base.shape[1]
    s = np.zeros((k, k))
    for a in range(k):
        rows = moved[y == a]
        if rows.shape[0]:
            s[a] = (rows - rows[:, [a]]).mean(axis=0)
    np.fill_diagonal(s, np.nan)
    return s


def cell_log_odds(y: np.ndarray, base_logp: np.ndarray) -> np.ndarray:
    """x[a, b]: the baseline's mean log-odds of b over a on canaries of class a (floored)."""
    y = np.asarray(y, dtype=int)
    base = np.maximum(np.asarray(base_logp, dtype=float), MEAN_SHIFT_FLOOR)
    k = base.shape[1]
    x = np.zeros((k, k))
    for a in range(k):
        rows = base[y == a]
        if rows.shape[0]:
            x[a] = (rows - rows[:, [a]]).mean(axis=0)
    np.fill_diagonal(x, np.nan)
    return x


def global_trend(excess: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The line of `excess` on `level` over the off-diagonal cells, refitted without cells
    beyond 3 robust sd so that an attacked pair does not bend it; 0 with under 6 cells."""
    off = ~np.eye(excess.shape[0], dtype=bool) & np.isfinite(excess) & np.isfinite(level)
    out = np.zeros_like(excess)
    if off.sum() < 6 or np.ptp(level[off]) <= 0:
        return out
    x, e = level[off], excess[off]
    keep = np.ones(x.size, dtype=bool)
    for _ in range(3):
        slope, intercept = np.polyfit(x[keep], e[keep], 1)
        resid = e - (intercept + slope * x)
        mad = np.median(np.abs(resid[keep] - np.median(resid[keep])))
        keep = np.abs(resid - np.median(resid[keep])) <= 3 * max(1.4826 * mad, 1e-9)
        if keep.sum() < 6:
            break
    out[off] = intercept + slope * x
    return out


def centre_rows(t: np.ndarray) -> np.ndarray:
    """Subtract from each cell the mean of the other cells of its true class (from 5 classes).

    A class that merely got harder or easier moves all its cells together and shares its
    canaries' noise across them; only a pull toward one class stands out from its row. The
    cell itself is left out of its centre, so a strong pull does not hide itself.
    """
    t = np.array(t, dtype=float)
    k = t.shape[0]
    if k >= _MIN_CLASSES_TO_CENTRE:
        total = np.nansum(t, axis=1, keepdims=True)
        t = t - (total - t) / (k - 2)
    return t
