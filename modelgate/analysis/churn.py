"""Tests of a candidate's flips against the natural churn of a clean retrain.

Clean churn flips low-margin canaries towards the baseline's runner-up classes, spread over
many cells and moving every class pair alike. Poisoning concentrates: many confident canaries
of one class land in one class (destination), one class pair moves apart from the others
(attraction), or one protected canary loses far more margin than its peers (margin collapse).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from modelgate.analysis.cells import row_blocks
from modelgate.analysis.flipcurve import (
    FlipCurve,
    constant_curve,
    fit_flip_curve,
    per_class,
    self_calibrated_curves,
)
from modelgate.analysis.shift import (
    LOGP_FLOOR,
    MEAN_SHIFT_FLOOR,
    ShiftNull,
    cell_log_odds,
    cell_mean_shift,
    centre_rows,
    global_trend,
    shift_deltas,
    shift_statistics,
)
from modelgate.analysis.stats import (
    holm_adjusted,
    line_fit,
    margins,
    negbin_upper,
    robust_scale,
    robust_z,
)
from modelgate.analysis.tails import t_cdf, t_sf

__all__ = [
    "CellResult",
    "FlipCurve",
    "MarginResult",
    "ShiftNull",
    "attraction_test",
    "centre_rows",
    "constant_curve",
    "destination_test",
    "expected_matrix",
    "fit_flip_curve",
    "margin_collapse",
    "regression_matrix",
    "self_calibrated_curves",
    "shift_deltas",
    "shift_statistics",
]

# An empty cell still expects a little, so one flip is no miracle: on the digits controls
# (leave-one-out), cells the curve gave under 0.01 received 0.003 clean flips each.
EXPECTED_FLOOR = 0.005
T_SCALE_FLOOR = 0.5  # a (row-centred) t statistic varies by ~0.7-1 from sampling alone
_TOP = 20


@dataclass(frozen=True)
class CellResult:
    """One (true class, new class) cell or one destination class of a churn test."""

    test: str  # "destination", "attraction_count" or "attraction_shift"
    true_class: int | None  # None for a per-destination-class result
    new_class: int
    observed: float  # a count, or the class-centred shift z-value
    expected: float  # what clean churn predicts for `observed`
    statistic: float  # the count, or the standardised shift z
    p_value: float
    p_adjusted: float  # Holm over the family the test belongs to
    significant: bool
    indices: tuple[int, ...]  # canaries involved, most telling first
    message: str


@dataclass(frozen=True)
class MarginResult:
    """A protected canary whose margin fell unusually far, or that flipped outright."""

    index: int
    base_margin: float
    cand_margin: float
    expected_margin: float  # the baseline margin plus the typical change in its margin band
    z: float
    p_value: float
    p_adjusted: float
    significant: bool
    flipped: bool  # baseline right, candidate wrong: a hard failure decided by the budgets
    message: str
    test: str = "margin_collapse"


def _names(classes: Sequence[str] | None, n_classes: int) -> list[str]:
    return [str(c) for c in classes] if classes is not None else [str(k) for k in range(n_classes)]


def _fmt_p(p: float) -> str:
    return f"{p:.2g}"


def regression_matrix(
    y: np.ndarray, base_pred: np.ndarray, cand_pred: np.ndarray, n_classes: int
) -> np.ndarray:
    """R[a, b] = canaries of class a the baseline got right that the candidate now calls b."""
    y, base_pred, cand_pred = (np.asarray(v, dtype=int) for v in (y, base_pred, cand_pred))
    hit = (base_pred == y) & (cand_pred != y)
    cells = np.bincount(y[hit] * n_classes + cand_pred[hit], minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes).astype(int)


def expected_matrix(
    y: np.ndarray,
    base_pred: np.ndarray,
    base_logp: np.ndarray,
    curves: FlipCurve | Sequence[FlipCurve],
) -> np.ndarray:
    """E[a, b] = sum over baseline-right canaries of class a of p_a(margin) * q(b).

    q(b) is the baseline's probability of b renormalised over the wrong classes: clean churn
    sends a flip to the baseline's runner-up, not to an arbitrary class.
    """
    y = np.asarray(y, dtype=int)
    base_logp = np.asarray(base_logp)
    if base_logp.ndim != 2 or base_logp.shape[1] < 2 or y.shape != (base_logp.shape[0],):
        raise ValueError(f"need logp (N, K>=2) and y (N,), got {base_logp.shape} and {y.shape}")
    n, k = base_logp.shape
    fits = per_class(curves, k)
    right = np.asarray(base_pred) == y
    e = np.zeros((k, k))
    # A block of canaries at a time (every step is per canary, and `np.add.at` adds in canary
    # order across blocks, as one `bincount` over all of them did): no (N, K) copy is made.
    for sl in row_blocks(n):
        # below e^-12 a log-probability is float noise: no destination is "impossible"
        logp = np.array(base_logp[sl], dtype=float)
        np.maximum(logp, MEAN_SHIFT_FLOOR, out=logp)
        rows, truth = np.arange(logp.shape[0]), y[sl]
        true_score = logp[rows, truth]
        # One masked copy gives both the margins (as `margins` computes them) and q, in place.
        other = logp
        other[rows, truth] = -np.inf
        best = other.max(axis=1)
        m = true_score - best
        other -= best[:, None]
        q = np.exp(other, out=other)
        del logp, other
        q /= q.sum(axis=1, keepdims=True)
        p_flip = np.zeros(rows.size)
        for a in np.unique(truth):
            p_flip[truth == a] = fits[a](m[truth == a])
        here = right[sl]
        w = p_flip[here, None] * q[here]
        for b in range(k):
            np.add.at(e[:, b], truth[here], w[:, b])
    return e


def destination_test(
    y: np.ndarray,
    base_pred: np.ndarray,
    cand_pred: np.ndarray,
    base_logp: np.ndarray,
    curves_per_class: FlipCurve | Sequence[FlipCurve],
    alpha: float,
    classes: Sequence[str] | None = None,
    expected: np.ndarray | None = None,
) -> list[CellResult]:
    """Cells whose regressions exceed the margin-predicted churn (Holm over all K*(K-1) cells).

    Returns every cell with at least one regression, most significant first. `expected`: the
    `expected_matrix` of these inputs, when the caller has it already.
    """
    y = np.asarray(y, dtype=int)
    k = np.asarray(base_logp).shape[1]
    names, fits = _names(classes, k), per_class(curves_per_class, k)
    r = regression_matrix(y, base_pred, cand_pred, k)
    e = expected_matrix(y, base_pred, base_logp, fits) if expected is None else expected
    cells = [(a, b) for a in range(k) for b in range(k) if a != b]
    p = []
    for a, b in cells:
        p.append(negbin_upper(r[a, b], max(e[a, b], EXPECTED_FLOOR), fits[a].nb_size()))
    adj = holm_adjusted(p)
    m = margins(base_logp, y)
    cand_pred = np.asarray(cand_pred, dtype=int)
    hit = (np.asarray(base_pred) == y) & (cand_pred != y)
    out = []
    for (a, b), pv, pa in zip(cells, p, adj):
        if r[a, b] == 0:
            continue
        idx = np.flatnonzero(hit & (y == a) & (cand_pred == b))
        idx = idx[np.lexsort((idx, -m[idx]))]
        msg = (
            f"{r[a, b]} canaries of class '{names[a]}' that the blessed model got right "
            f"(median margin {np.median(m[idx]):.2f}) are now '{names[b]}'; "
            f"clean churn predicts {e[a, b]:.2g} (p = {_fmt_p(pv)})"
        )
        out.append(
            CellResult("destination", a, b, float(r[a, b]), float(e[a, b]), float(r[a, b]),
                       pv, float(pa), bool(pa <= alpha), tuple(int(i) for i in idx), msg)
        )  # fmt: skip
    return sorted(out, key=lambda c: (c.p_value, c.true_class, c.new_class))


def attraction_test(
    y: np.ndarray,
    base_pred: np.ndarray,
    cand_pred: np.ndarray,
    base_logp: np.ndarray,
    cand_logp: np.ndarray,
    curves_per_class: FlipCurve | Sequence[FlipCurve],
    alpha: float,
    classes: Sequence[str] | None = None,
    shift_null: ShiftNull | None = None,
    expected: np.ndarray | None = None,
) -> list[CellResult]:
    """Classes that pull canaries of other classes toward themselves, seen two ways.

    Count: regressions into class b against clean churn (Holm over classes); every class with
    any is returned. Shift: the (a, b) log-odds shift against the shift of all other cells
    (Efron's empirical null) or against `shift_null` from control retrains (Holm over cells);
    only significant cells are returned, as a targeted label flip moves its cell even when few
    canaries cross the decision boundary. `expected`: as in `destination_test`.
    """
    y = np.asarray(y, dtype=int)
    cand_pred = np.asarray(cand_pred, dtype=int)
    k = np.asarray(base_logp).shape[1]
    names, fits = _names(classes, k), per_class(curves_per_class, k)
    r = regression_matrix(y, base_pred, cand_pred, k)
    e = expected_matrix(y, base_pred, base_logp, fits) if expected is None else expected
    hit = (np.asarray(base_pred) == y) & (cand_pred != y)
    out: list[CellResult] = []
    p_count = []
    for b in range(k):
        eb = max(float(e[:, b].sum()), EXPECTED_FLOOR)
        # Per row, retrain heterogeneity plus the curves' errors, taken as fully correlated
        # (leave-one-class-out curves share most of their data): var = e + (sum_a e_a sqrt(h_a))^2
        spread = sum(e[a, b] / np.sqrt(fits[a].nb_size()) for a in range(k))
        size = eb**2 / spread**2 if spread > 0 else math.inf
        p_count.append(negbin_upper(int(r[:, b].sum()), eb, size))
    for b, pv, pa in zip(range(k), p_count, holm_adjusted(p_count)):
        rb = int(r[:, b].sum())
        if rb == 0:
            continue
        idx = tuple(int(i) for i in np.flatnonzero(hit & (cand_pred == b)))
        msg = (
            f"{rb} canaries of other classes that the blessed model got right are now "
            f"'{names[b]}'; clean churn predicts {e[:, b].sum():.2g} (p = {_fmt_p(pv)})"
        )
        out.append(CellResult("attraction_count", None, b, float(rb), float(e[:, b].sum()),
                              float(rb), pv, float(pa), bool(pa <= alpha), idx, msg))  # fmt: skip

    off = ~np.eye(k, dtype=bool)
    d: np.ndarray | None = None  # the per-canary shifts, made once (an (N, K) pass each time)
    if shift_null is not None:
        # Against controls, each cell has its own null: compare plain mean shifts in nats,
        # after the candidate's own global trend in the baseline's cell log-odds (a recipe
        # that is merely more or less confident moves every cell by its distance).
        t = cell_mean_shift(y, base_logp, cand_logp)
        t = t - global_trend(t - np.asarray(shift_null.mean), cell_log_odds(y, base_logp))
        z = shift_null.z(t)
        loc = np.asarray(shift_null.mean)
        null_tail = shift_null.upper_p
    else:
        d = shift_deltas(y, base_logp, cand_logp)
        t = centre_rows(shift_statistics(y, base_logp, cand_logp, deltas=d))
        z = np.full((k, k), np.nan)
        z[off] = robust_z(t[off], min_scale=T_SCALE_FLOOR)
        # the MAD of n cells is worth ~0.37 n observations: Student tails keep Holm honest
        df = max(1.0, 0.37 * (off.sum() - 1))
        null_tail = partial(t_sf, df=df)
        loc = np.full((k, k), float(np.median(t[off])) if off.any() else 0.0)
    cells = [(a, b) for a in range(k) for b in range(k) if a != b]
    p_shift = [float(null_tail(z[a, b])) for a, b in cells]
    for (a, b), pv, pa in zip(cells, p_shift, holm_adjusted(p_shift)):
        if pa > alpha:
            continue
        if d is None:
            d = shift_deltas(y, base_logp, cand_logp)
        rows = np.flatnonzero(y == a)
        delta = d[rows, b]
        order = np.lexsort((rows, -delta))[:_TOP]
        now_b = int(np.sum(cand_pred[rows] == b))
        msg = (
            f"canaries of class '{names[a]}' moved toward '{names[b]}' far more than other class "
            f"pairs (mean log-odds shift {delta.mean():+.2f} over {rows.size} canaries, "
            f"{now_b} now predicted '{names[b]}'; z = {z[a, b]:.1f}, p = {_fmt_p(pv)})"
        )
        out.append(CellResult("attraction_shift", a, b, float(t[a, b]), float(loc[a, b]),
                              float(z[a, b]), pv, float(pa), True,
                              tuple(int(i) for i in rows[order]), msg))  # fmt: skip
    return sorted(
        out,
        key=lambda c: (
            c.p_value,
            c.test,
            -1 if c.true_class is None else c.true_class,
            c.new_class,
        ),
    )


def margin_collapse(
    base_margin: np.ndarray,
    cand_margin: np.ndarray,
    protected_mask: np.ndarray,
    alpha: float,
    ids: Sequence[str] | None = None,
    min_scale: float = 0.05,
) -> list[MarginResult]:
    """Protected canaries whose candidate margin fell far below what their baseline margin predicts.

    The margin change is compared with canaries of similar baseline margin (up to ten quantile
    bands, at least ~20 canaries each; robust location and scale floored at `min_scale` nats);
    Holm over the protected canaries. Returns the significant ones and the flipped ones.
    """
    base = np.clip(np.asarray(base_margin, dtype=float), LOGP_FLOOR, -LOGP_FLOOR)
    cand = np.clip(np.asarray(cand_margin, dtype=float), LOGP_FLOOR, -LOGP_FLOOR)
    prot = np.asarray(protected_mask, dtype=bool)
    n = base.size
    change = cand - base
    trend = np.zeros(n)
    if n >= 3 and np.ptp(base) > 0:
        # a retrain that is more or less confident scales margins: remove that trend first
        slope, intercept = line_fit(base, change)
        trend = intercept + slope * base
    resid = change - trend
    n_bins = int(min(10, max(1, n // 20)))
    edges = np.quantile(base, np.linspace(0, 1, n_bins + 1)[1:-1]) if n else np.zeros(0)
    band = np.searchsorted(edges, base, side="right")
    loc, scale, df = np.zeros(n), np.ones(n), np.ones(n)
    for j in np.unique(band):
        members = band == j
        loc[members], scale[members] = robust_scale(resid[members], min_scale)
        # Student tails: the band's scale is a MAD (worth ~0.37 n canaries), and a margin can
        # drop with a heavier tail than a normal when runner-up classes trade places
        df[members] = max(1.0, 0.37 * (members.sum() - 1))
    z = (resid - loc) / scale
    where = np.flatnonzero(prot)
    p = t_cdf(z[where], df[where])
    adj = holm_adjusted(p)
    out = []
    for i, pv, pa in zip(where.tolist(), p, adj):
        typical = trend[i] + loc[i]
        flipped = bool(base[i] > 0 > cand[i])
        if pa > alpha and not flipped:
            continue
        name = f"'{ids[i]}'" if ids is not None else f"#{i}"
        msg = (
            f"the margin of protected canary {name} fell from {base[i]:.2f} to {cand[i]:.2f}; "
            f"canaries with a similar baseline margin changed by {typical:+.2f} "
            f"(scale {scale[i]:.2f}; z = {z[i]:.1f}, p = {_fmt_p(float(pv))})"
        )
        out.append(MarginResult(int(i), float(base[i]), float(cand[i]), float(base[i] + typical),
                                float(z[i]), float(pv), float(pa), bool(pa <= alpha), flipped,
                                msg))  # fmt: skip
    return sorted(out, key=lambda r: (r.p_value, r.index))
