"""The light tail functions give scipy.stats' values bit for bit, edges of the support included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelgate.analysis import tails

EDGES = [-np.inf, -1e300, -40.0, -1.0, -0.0, 0.0, 1e-300, 0.5, 3.7, 40.0, 1e300, np.inf, np.nan]


def _same(a: object, b: object) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True), (a, b)


@pytest.mark.parametrize("df", [0.5, 1.0, 2.0, 3.5, 10.0, 30.0, 1e6, np.inf])
def test_student_t_matches_scipy(df: float) -> None:
    x = np.concatenate([EDGES, np.random.default_rng(0).normal(0, 6, 2000)])
    _same(tails.t_sf(x, df), stats.t.sf(x, df=df))
    _same(tails.t_cdf(x, df), stats.t.cdf(x, df=df))
    q = np.concatenate([[0.0, 1e-300, 1e-12, 0.5, 1 - 1e-16, 1.0, -0.1, 1.1, np.nan],
                        np.random.default_rng(1).uniform(0, 1, 500)])  # fmt: skip
    _same(tails.t_isf(q, df), stats.t.isf(q, df))
    assert type(tails.t_sf(1.5, df)) is type(stats.t.sf(1.5, df=df))


def test_student_t_vectorised_over_df_and_scalars() -> None:
    grid = np.arange(2.0, 30.5, 0.5)
    for level in (1e-2, 1e-5, 1e-9):
        _same(tails.t_isf(level, grid), stats.t.isf(level, grid))
    df = np.random.default_rng(2).uniform(0.5, 50, 300)
    z = np.random.default_rng(3).normal(0, 3, 300)
    _same(tails.t_cdf(z, df), stats.t.cdf(z, df=df))
    _same(tails.t_sf(np.float32(2.5), 7.0), stats.t.sf(np.float32(2.5), df=7.0))
    _same(tails.t_sf(z, -1.0), stats.t.sf(z, df=-1.0))  # a bad df: NaN, as scipy gives


def test_normal_matches_scipy() -> None:
    x = np.concatenate([EDGES, np.random.default_rng(4).normal(0, 10, 2000)])
    _same(tails.norm_sf(x), stats.norm.sf(x))
    q = np.concatenate(
        [[0.0, 1e-300, 0.5, 1.0, np.nan], np.random.default_rng(5).uniform(size=500)]
    )
    _same(tails.norm_isf(q), stats.norm.isf(q))


def test_counts_match_scipy() -> None:
    for n in (0, 1, 2, 7, 40, 1000, 100_000):
        for k in {-1, 0, 1, n // 2, n - 1, n, n + 1}:
            for p in (0.0, 0.5, 0.1, 1.0):
                assert tails.binom_sf(k, n, p) == stats.binom.sf(k, n, p)
    rng = np.random.default_rng(6)
    for _ in range(3000):
        k = int(rng.integers(-1, 400))
        size = float(rng.choice([0.01, 0.5, 3.0, 1e3, 1e8, rng.uniform(0.01, 100)]))
        mean = float(rng.choice([1e-6, 0.005, 0.3, 4.0, 250.0, rng.uniform(0, 50)]))
        p = size / (size + mean)
        assert tails.nbinom_sf(k, size, p) == stats.nbinom.sf(k, size, p)
        assert tails.poisson_sf(k, mean) == stats.poisson.sf(k, mean)
