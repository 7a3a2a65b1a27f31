"""The small statistics: hand-computed cases, scipy as an oracle, and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from modelgate.analysis.stats import (
    MAD_TO_SD,
    MEANAD_TO_SD,
    holm,
    holm_adjusted,
    margins,
    mcnemar_exact,
    negbin_upper,
    poisson_upper,
    robust_scale,
    robust_z,
    size_for_overdispersion,
)

# --- McNemar ---------------------------------------------------------------------------------


def test_mcnemar_hand_case() -> None:
    # 8 right->wrong, 1 wrong->right: n = 9 discordant pairs, each a fair coin under the null.
    # P(X >= 8) = [C(9,8) + C(9,9)] / 2^9 = (9 + 1) / 512 = 0.01953125.
    assert mcnemar_exact(8, 1) == pytest.approx(10 / 512, rel=1e-12)
    # 3 vs 0: all three coins must land "negative": 1/8.
    assert mcnemar_exact(3, 0) == pytest.approx(0.125, rel=1e-12)
    # 1 vs 1: P(X >= 1 | n=2) = 3/4.
    assert mcnemar_exact(1, 1) == pytest.approx(0.75, rel=1e-12)


def test_mcnemar_no_evidence_is_one() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 7) == 1.0


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


@pytest.mark.parametrize(("n_neg", "n_pos"), [(1, 0), (5, 5), (12, 3), (40, 25), (3, 30)])
def test_mcnemar_matches_scipy_binomtest(n_neg: int, n_pos: int) -> None:
    want = sps.binomtest(n_neg, n_neg + n_pos, 0.5, alternative="greater").pvalue
    assert mcnemar_exact(n_neg, n_pos) == pytest.approx(want, rel=1e-9)


@given(st.integers(0, 300), st.integers(0, 300))
def test_mcnemar_in_unit_interval_and_non_increasing_in_n_neg(n_neg: int, n_pos: int) -> None:
    p = mcnemar_exact(n_neg, n_pos)
    assert 0.0 <= p <= 1.0
    assert mcnemar_exact(n_neg + 1, n_pos) <= p + 1e-15


@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_equals_exact_integer_sum(n_neg: int, n_pos: int) -> None:
    n = n_neg + n_pos
    exact = sum(math.comb(n, k) for k in range(n_neg, n + 1)) / 2**n if n else 1.0
    assert mcnemar_exact(n_neg, n_pos) == pytest.approx(exact if n_neg else 1.0, rel=1e-9)


# --- Holm ------------------------------------------------------------------------------------


def test_holm_hand_case() -> None:
    # m = 4. Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running
    # max keeps 0.06. Back in input order: [0.03, 0.06, 0.06, 0.02].
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(holm_adjusted(p), [0.03, 0.06, 0.06, 0.02])
    assert holm(p, 0.05) == [True, False, False, True]


def test_holm_caps_at_one_and_handles_empty() -> None:
    np.testing.assert_allclose(holm_adjusted([0.6, 0.9]), [1.0, 1.0])
    assert holm_adjusted([]).size == 0
    assert holm([], 0.05) == []


def test_holm_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        holm_adjusted([0.1, float("nan")])
    with pytest.raises(ValueError):
        holm_adjusted([1.5])
    with pytest.raises(ValueError):
        holm([0.1], 0.0)


def _holm_step_down(p: list[float], alpha: float) -> list[bool]:
    """The textbook procedure: reject in order of p while p_(i) <= alpha / (m - i)."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    reject = [False] * len(p)
    for rank, i in enumerate(order):
        if p[i] > alpha / (len(p) - rank):
            break
        reject[i] = True
    return reject


_pvals = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=40)


@given(_pvals)
def test_holm_adjusted_at_least_raw_monotone_in_rank_capped(p: list[float]) -> None:
    adj = holm_adjusted(p)
    raw = np.asarray(p)
    assert np.all(adj >= raw - 1e-15)
    assert np.all(adj <= 1.0)
    ranked = adj[np.argsort(raw, kind="stable")]
    assert np.all(np.diff(ranked) >= -1e-15)


@given(_pvals, st.sampled_from([0.001, 0.01, 0.05, 0.1]))
def test_holm_matches_step_down(p: list[float], alpha: float) -> None:
    # Avoid floating ties exactly at the boundary, where the two forms round differently.
    m = len(p)
    if any(abs(x * (m - r) - alpha) < 1e-12 for x in p for r in range(m)):
        return
    assert holm(p, alpha) == _holm_step_down(p, alpha)


# --- counts ----------------------------------------------------------------------------------


def test_poisson_upper_hand_case() -> None:
    # P(X >= 3 | mean 0.5) = 1 - e^-0.5 (1 + 0.5 + 0.125) = 1 - 1.625 e^-0.5
    assert poisson_upper(3, 0.5) == pytest.approx(1 - 1.625 * math.exp(-0.5), rel=1e-12)
    assert poisson_upper(0, 2.0) == 1.0
    assert poisson_upper(1, 2.0) == pytest.approx(1 - math.exp(-2.0), rel=1e-12)


@pytest.mark.parametrize(("k", "mu"), [(1, 0.05), (4, 1.0), (10, 2.5), (30, 12.0)])
def test_poisson_upper_matches_scipy(k: int, mu: float) -> None:
    assert poisson_upper(k, mu) == pytest.approx(sps.poisson.sf(k - 1, mu), rel=1e-12)


def test_negbin_upper_hand_case() -> None:
    # size 1 is the geometric law: p = size / (size + mean) = 1/2 at mean 1, and
    # P(X >= k) = (1 - p)^k = 2^-k.
    assert negbin_upper(3, 1.0, 1.0) == pytest.approx(0.125, rel=1e-12)
    assert negbin_upper(0, 1.0, 1.0) == 1.0


@pytest.mark.parametrize(("k", "mu", "size"), [(2, 0.5, 0.3), (6, 2.0, 4.0), (20, 5.0, 1.5)])
def test_negbin_upper_matches_scipy_and_parametrisation(k: int, mu: float, size: float) -> None:
    p = size / (size + mu)
    assert negbin_upper(k, mu, size) == pytest.approx(sps.nbinom.sf(k - 1, size, p), rel=1e-12)
    assert sps.nbinom(size, p).mean() == pytest.approx(mu)
    assert sps.nbinom(size, p).var() == pytest.approx(mu * (1 + mu / size))


def test_negbin_is_wider_than_poisson_and_tends_to_it() -> None:
    assert negbin_upper(8, 2.0, 2.0) > poisson_upper(8, 2.0)
    assert negbin_upper(8, 2.0, 1e9) == pytest.approx(poisson_upper(8, 2.0), rel=1e-6)
    assert negbin_upper(8, 2.0, math.inf) == poisson_upper(8, 2.0)
    with pytest.raises(ValueError):
        negbin_upper(3, 1.0, 0.0)


def test_size_for_overdispersion() -> None:
    assert size_for_overdispersion(2.0, 1.0) == math.inf
    size = size_for_overdispersion(2.0, 3.0)  # variance / mean = 1 + mean / size = 3
    assert 1 + 2.0 / size == pytest.approx(3.0)


# --- margins and robust z --------------------------------------------------------------------


def test_margins_hand_case() -> None:
    logp = np.log(np.array([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]]))
    y = np.array([0, 2])
    np.testing.assert_allclose(margins(logp, y), [math.log(3.5), math.log(0.1 / 0.7)])


def test_margins_shape_errors() -> None:
    with pytest.raises(ValueError):
        margins(np.zeros((3, 1)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError):
        margins(np.zeros((3, 2)), np.zeros(2, dtype=int))


def test_robust_z_hand_case() -> None:
    # median 3; |deviations| 2, 1, 0, 1, 97 -> MAD 1 -> scale 1.4826
    z = robust_z([1, 2, 3, 4, 100])
    np.testing.assert_allclose(z, np.array([-2, -1, 0, 1, 97]) / MAD_TO_SD)


def test_robust_z_zero_mad_does_not_explode() -> None:
    # MAD is 0; the mean absolute deviation (0.2) takes over: scale 1.2533 * 0.2
    z = robust_z([5, 5, 5, 5, 6])
    assert z[-1] == pytest.approx(1 / (MEANAD_TO_SD * 0.2))
    assert np.all(np.isfinite(robust_z([3.0] * 7)))
    np.testing.assert_array_equal(robust_z([3.0] * 7), 0.0)
    assert robust_scale(np.array([1.0, 1.0]), min_scale=0.5) == (1.0, 0.5)


@pytest.mark.parametrize("min_scale", [1e-6, 1.0, 3.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_robust_scale_in_place_is_the_textbook_one_bit_for_bit(
    min_scale: float, dtype: type
) -> None:
    # The in-place version (one copy for both medians) against the plain formula, on the
    # MAD path and on the mean-deviation fallback; the caller's values stay untouched.
    rng = np.random.default_rng(3)
    for spread in (0.01, 0.5, 4.0):
        values = rng.normal(0, spread, 2001).astype(dtype)
        kept = values.copy()
        x = np.asarray(values, dtype=float)
        loc = float(np.median(x))
        scale = MAD_TO_SD * float(np.median(np.abs(x - loc)))
        if scale < min_scale:
            scale = MEANAD_TO_SD * float(np.mean(np.abs(x - loc)))
        assert robust_scale(values, min_scale) == (loc, max(scale, min_scale))
        np.testing.assert_array_equal(values, kept)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_robust_z_is_finite_and_centred(values: list[float]) -> None:
    z = robust_z(values)
    assert np.all(np.isfinite(z))
    assert abs(float(np.median(z))) < 1e-6 * (1 + float(np.max(np.abs(z))))
