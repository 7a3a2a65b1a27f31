"""The vectorised churn kernels give the statistics of the kernels they replaced (kept verbatim in
`legacy_analysis`), on fixed random worlds with and without attacks and controls."""

from __future__ import annotations

import numpy as np
import pytest

from modelgate.analysis import churn, reversal, shift, stats
from modelgate.analysis.flipcurve import self_calibrated_curves
from tests.analysis.churn_world import log_softmax, retrain, world
from tests.analysis.legacy_analysis import churn as old_churn
from tests.analysis.legacy_analysis import reversal as old_reversal
from tests.analysis.legacy_analysis import shift as old_shift
from tests.analysis.legacy_analysis import stats as old_stats

RTOL = 1e-9  # summation order differs; the reports round far coarser than this
ALPHA = 0.01


def _pair(seed: int, k: int = 10, per_class: int = 300, boost: float = 8.0) -> tuple:
    """Labels, blessed log-probs (float32, as predicted) and a candidate with a 30% label flip
    3 -> 1 and three confident reversals of single canaries."""
    y, logits = world(seed, k=k, per_class=per_class)
    base = log_softmax(logits).astype(np.float32)
    _, cand = retrain(y, logits, seed, attack=(3, 1, 0.3, 4.0))
    for canary, to in ((7, 4), (per_class + 11, 3), (2 * per_class + 2, 0)):
        cand[canary, to] = cand[canary].max() + boost
    return y, base, log_softmax(cand).astype(np.float32)


def _controls(seed: int, n: int, k: int = 10, per_class: int = 300) -> np.ndarray:
    y, logits = world(seed, k=k, per_class=per_class)
    return np.array([retrain(y, logits, seed + 100 * j)[1] for j in range(1, n + 1)])


def _same_z(new: reversal.CanaryNull, old: object, y: np.ndarray, cand: np.ndarray) -> None:
    """The standardised cells the reversal test judges are the old kernel's, value for value."""
    z, expected, at_flip = reversal.reversal_z(new, y, cand)
    old_z, old_expected = old_reversal.reversal_z(old, y, cand)
    np.testing.assert_allclose(z, old_z, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(expected, old_expected, rtol=RTOL, atol=1e-12)
    # at the flip, the cell's log-odds are 0: z there is (0 - expected) / (scale x spread)
    off = np.isfinite(z)
    odds = reversal.log_odds(cand, y)
    ratio = (odds - expected)[off] / z[off]  # scale x spread, cell by cell
    np.testing.assert_allclose(at_flip[off], -expected[off] / ratio, rtol=1e-6, atol=1e-9)


def _same_cells(new: list, old: list) -> None:
    assert [(c.test, c.true_class, c.new_class, c.significant, c.indices) for c in new] == [
        (c.test, c.true_class, c.new_class, c.significant, c.indices) for c in old
    ]
    for a, b in zip(new, old):
        np.testing.assert_allclose(
            [a.observed, a.expected, a.statistic, a.p_value, a.p_adjusted],
            [b.observed, b.expected, b.statistic, b.p_value, b.p_adjusted],
            rtol=RTOL,
            atol=1e-300,
        )


@pytest.mark.parametrize("shape", [(5, 60), (10, 300)])
def test_the_self_calibrated_reversal_null_is_unchanged(shape: tuple[int, int]) -> None:
    y, base, cand = _pair(2, *shape)
    new, old = reversal.self_null(y, base, cand), old_reversal.self_null(y, base, cand)
    assert new.df == old.df and new.source == old.source
    np.testing.assert_array_equal(new.expected, old.expected)
    np.testing.assert_allclose(new.scale, old.scale, rtol=RTOL)
    _same_z(new, old, y, cand)


@pytest.mark.parametrize("n_controls", [3, 6])
def test_the_calibrated_reversal_null_is_unchanged(n_controls: int) -> None:
    y, _, cand = _pair(2, 5, 60)
    controls = _controls(2, n_controls, 5, 60)
    new, old = reversal.calibrated_null(y, controls), old_reversal.calibrated_null(y, controls)
    assert new.df == old.df
    np.testing.assert_allclose(new.expected, old.expected, rtol=RTOL)
    np.testing.assert_allclose(new.scale, old.scale, rtol=RTOL)
    _same_z(new, old, y, cand)


@pytest.mark.parametrize("seed", [0, 4])
def test_fit_tail_is_unchanged(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for z in (rng.standard_t(4, 200_000), rng.normal(size=30_000), rng.normal(size=25)):
        # the old grid stopped at t30, its default cap
        assert reversal.fit_tail(z, cap=30.0) == old_reversal.fit_tail(z)
        assert reversal.fit_tail(z, cap=10.0) == old_reversal.fit_tail(z, cap=10.0)


def test_the_shift_statistics_are_unchanged() -> None:
    y, base, cand = _pair(5)
    np.testing.assert_allclose(
        shift.shift_deltas(y, base, cand), old_shift.shift_deltas(y, base, cand), rtol=RTOL,
        atol=1e-12,
    )  # fmt: skip
    np.testing.assert_allclose(
        shift.shift_statistics(y, base, cand), old_shift.shift_statistics(y, base, cand), rtol=RTOL
    )


def test_margins_are_identical_for_float32_and_float64_scores() -> None:
    y, base, _ = _pair(6)
    for scores in (base, base.astype(np.float64)):
        np.testing.assert_array_equal(stats.margins(scores, y), old_stats.margins(scores, y))


@pytest.mark.parametrize("seed", [0, 7])
def test_the_count_tests_and_margin_collapse_are_unchanged(seed: int) -> None:
    y, base, cand = _pair(seed)
    bp, cp = base.argmax(1), cand.argmax(1)
    curves = self_calibrated_curves(y, bp, cp, base)
    np.testing.assert_array_equal(
        churn.expected_matrix(y, bp, base, curves), old_churn.expected_matrix(y, bp, base, curves)
    )
    _same_cells(
        churn.destination_test(y, bp, cp, base, curves, ALPHA),
        old_churn.destination_test(y, bp, cp, base, curves, ALPHA),
    )
    attraction = churn.attraction_test(y, bp, cp, base, cand, curves, ALPHA)
    assert any(c.significant for c in attraction)
    _same_cells(attraction, old_churn.attraction_test(y, bp, cp, base, cand, curves, ALPHA))
    bm, cm = stats.margins(base, y), stats.margins(cand, y)
    protected = np.zeros(y.size, dtype=bool)
    protected[::37] = True
    new = churn.margin_collapse(bm, cm, protected, ALPHA)
    old = old_churn.margin_collapse(bm, cm, protected, ALPHA)
    assert new and [(r.index, r.flipped, r.significant) for r in new] == [
        (r.index, r.flipped, r.significant) for r in old
    ]
    for a, b in zip(new, old):
        np.testing.assert_allclose(
            [a.expected_margin, a.z, a.p_value, a.p_adjusted],
            [b.expected_margin, b.z, b.p_value, b.p_adjusted],
            rtol=RTOL,
            atol=1e-300,
        )
