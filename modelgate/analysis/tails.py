"""The tail probabilities the churn tests use, from `scipy.special` without `scipy.stats`.

Importing `scipy.stats` costs about a second of CPU, most of what a check of 10^4 canaries
spends beyond inference. Each function here calls the very ufunc that `scipy.stats` calls for
that distribution (`t.sf` is `stdtr(df, -x)`, `binom.sf` is `_binom_sf(floor(k), n, p)`, ...)
and handles the edges of the support as its generic wrapper does, so every value is the same
bit for bit (`tests/analysis/test_tails.py` compares them on grids with the edges included).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special
from scipy.special import _ufuncs


def _out(values: np.ndarray) -> Any:
    return values[()] if values.ndim == 0 else values


def _continuous(x: Any, df: Any, inner: Any, at_lower: float, at_upper: float) -> Any:
    """A Student t function over (-inf, inf): `inner` on finite x, the wrapper's edge values
    at -inf and +inf, NaN for NaN or df <= 0."""
    x = np.asarray(x, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    x, df = np.broadcast_arrays(x, df)
    good = df > 0
    out = np.zeros(x.shape)
    out[~good | np.isnan(x)] = np.nan
    out[good & (x == -np.inf)] = at_lower
    out[good & (x == np.inf)] = at_upper
    inside = good & np.isfinite(x)
    if inside.any():
        out[inside] = inner(df[inside], x[inside])
    return _out(out)


def t_sf(x: Any, df: Any) -> Any:
    """`scipy.stats.t.sf(x, df)`."""
    return _continuous(x, df, lambda d, v: special.stdtr(d, -v), 1.0, 0.0)


def t_cdf(x: Any, df: Any) -> Any:
    """`scipy.stats.t.cdf(x, df)`."""
    return _continuous(x, df, special.stdtr, 0.0, 1.0)


def t_isf(q: Any, df: Any) -> Any:
    """`scipy.stats.t.isf(q, df)` for q in [0, 1]."""
    q = np.asarray(q, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    q, df = np.broadcast_arrays(q, df)
    good = df > 0
    out = np.full(q.shape, np.nan)
    out[good & (q == 1)] = -np.inf
    out[good & (q == 0)] = np.inf
    inside = good & (q > 0) & (q < 1)
    if inside.any():
        out[inside] = -special.stdtrit(df[inside], q[inside]) * 1.0 + 0.0
    return _out(out)


def norm_sf(x: Any) -> Any:
    """`scipy.stats.norm.sf(x)`."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape)
    out[np.isnan(x)] = np.nan
    out[x == -np.inf] = 1.0
    inside = np.isfinite(x)
    out[inside] = special.ndtr(-x[inside])
    return _out(out)


def norm_isf(q: Any) -> Any:
    """`scipy.stats.norm.isf(q)` for q in [0, 1]."""
    q = np.asarray(q, dtype=np.float64)
    out = np.full(q.shape, np.nan)
    out[q == 1] = -np.inf
    out[q == 0] = np.inf
    inside = (q > 0) & (q < 1)
    out[inside] = -special.ndtri(q[inside]) * 1.0 + 0.0
    return _out(out)


def binom_sf(k: int, n: int, p: float) -> float:
    """`scipy.stats.binom.sf(k, n, p)` for integers 0 <= n and 0 <= p <= 1."""
    if k < 0:
        return 1.0
    if k >= n:
        return 0.0
    return float(np.clip(_ufuncs._binom_sf(float(k), float(n), float(p)), 0.0, 1.0))


def nbinom_sf(k: int, size: float, p: float) -> float:
    """`scipy.stats.nbinom.sf(k, size, p)` for size > 0 and 0 < p <= 1."""
    if k < 0:
        return 1.0
    return float(np.clip(_ufuncs._nbinom_sf(float(k), float(size), float(p)), 0.0, 1.0))


def poisson_sf(k: int, mu: float) -> float:
    """`scipy.stats.poisson.sf(k, mu)` for mu > 0."""
    if k < 0:
        return 1.0
    return float(np.clip(special.pdtrc(float(k), float(mu)), 0.0, 1.0))
