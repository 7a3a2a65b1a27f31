"""The churn tests: hand-computed matrices and p-values, invariants, then false alarms and
detection on the synthetic world of churn_world.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from churn_world import ALPHA, SEEDS, log_softmax, pair, retrain, run_tests, world
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from modelgate.analysis.churn import (
    FlipCurve,
    attraction_test,
    destination_test,
    expected_matrix,
    margin_collapse,
    regression_matrix,
)
from modelgate.analysis.flipcurve import self_calibrated_curves
from modelgate.analysis.stats import margins

# --- hand-computed matrices and p-values -----------------------------------------------------


def test_expected_matrix_hand_case() -> None:
    # flat curve p = 0.2; canary 0 (class 0): baseline (0.7, 0.2, 0.1) -> q = (0, 2/3, 1/3);
    # canary 1 (class 1): (0.1, 0.6, 0.3) -> q = (1/4, 0, 3/4).
    logp = np.log([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    flat = FlipCurve(b0=math.log(0.2 / 0.8), b1=0.0)
    e = expected_matrix(np.array([0, 1]), np.array([0, 1]), logp, flat)
    want = [[0, 0.2 * 2 / 3, 0.2 / 3], [0.2 / 4, 0, 0.2 * 3 / 4], [0, 0, 0]]
    np.testing.assert_allclose(e, want, atol=1e-12)


def test_in_place_kernels_leave_the_callers_scores_alone() -> None:
    # expected_matrix and shift_deltas work in place on their own copies of the scores
    from modelgate.analysis.shift import shift_deltas

    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, 300)
    for dtype in (np.float32, np.float64):
        base = log_softmax(rng.normal(0, 2, (300, 4))).astype(dtype)
        cand = log_softmax(rng.normal(0, 2, (300, 4))).astype(dtype)
        kept = base.copy(), cand.copy()
        flat = FlipCurve(b0=-2.0, b1=0.0)
        expected_matrix(y, base.argmax(1), base, flat)
        shift_deltas(y, base, cand)
        np.testing.assert_array_equal(base, kept[0])
        np.testing.assert_array_equal(cand, kept[1])


def test_destination_hand_case() -> None:
    # Two classes, ten canaries of class 0 all right at baseline, flat flip probability 0.1:
    # E[0,1] = 10 * 0.1 = 1. Four now say 1: P(X >= 4 | Poisson(1)) = 1 - (8/3) e^-1; Holm
    # over the 2 cells doubles it. The curve is "known exactly" (huge n_flips), so Poisson.
    y = np.zeros(10, dtype=int)
    logp = np.log(np.tile([0.9, 0.1], (10, 1)))
    cand = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    curve = FlipCurve(b0=math.log(0.1 / 0.9), b1=0.0, n_flips=10**12)
    (cell,) = destination_test(y, y, cand, logp, curve, 0.05, classes=["cat", "dog"])
    p = 1 - 8 / 3 * math.exp(-1)
    assert (cell.true_class, cell.new_class, cell.observed) == (0, 1, 4.0)
    assert cell.expected == pytest.approx(1.0)
    assert cell.p_value == pytest.approx(p, rel=1e-9)
    assert cell.p_adjusted == pytest.approx(2 * p, rel=1e-9)
    assert cell.significant
    assert cell.indices == (0, 1, 2, 3)
    assert "'cat'" in cell.message and "'dog'" in cell.message and "predicts 1" in cell.message
    # heterogeneity widens the test: NB2 with variance 1 + 2 * 1^2 at mean 1, i.e. size 1/2
    wide = FlipCurve(b0=curve.b0, b1=0.0, heterogeneity=2.0, n_flips=10**12)
    (cell,) = destination_test(y, y, cand, logp, wide, 0.05)
    assert cell.p_value == pytest.approx(sps.nbinom.sf(3, 0.5, 0.5 / 1.5), rel=1e-6)


def test_regression_matrix_counts_only_baseline_right_canaries() -> None:
    y = np.array([0, 0, 1, 1, 2])
    base = np.array([0, 1, 1, 1, 2])  # canary 1 was already wrong
    cand = np.array([2, 2, 0, 1, 2])
    np.testing.assert_array_equal(
        regression_matrix(y, base, cand, 3), [[0, 0, 1], [1, 0, 0], [0, 0, 0]]
    )


# --- invariants ------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(5, 60))
def test_identical_predictions_are_never_a_finding(seed: int, k: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    logp = log_softmax(rng.normal(0, 2, (n, k)))
    y = rng.integers(0, k, n)
    pred = logp.argmax(axis=1)
    curves = self_calibrated_curves(y, pred, pred, logp)
    assert destination_test(y, pred, pred, logp, curves, ALPHA) == []
    assert not any(r.significant for r in attraction_test(y, pred, pred, logp, logp, curves, 0.05))
    m = margins(logp, y)
    assert margin_collapse(m, m, rng.random(n) < 0.3, ALPHA) == []


def test_permuting_canaries_changes_nothing() -> None:
    y, bp, cp, bl, cl = pair(3, attack=(2, 5, 0.2, 6.0))
    perm = np.random.default_rng(7).permutation(y.size)
    inv = np.argsort(perm)

    def summary(y, bp, cp, bl, cl, index=lambda i: i):
        curves = self_calibrated_curves(y, bp, cp, bl)
        cells = destination_test(y, bp, cp, bl, curves, ALPHA)
        cells += attraction_test(y, bp, cp, bl, cl, curves, ALPHA)
        return [
            (c.test, c.true_class, c.new_class, round(c.observed, 9), round(c.p_value, 9),
             sorted(index(i) for i in c.indices))
            for c in cells
        ]  # fmt: skip

    want = summary(y, bp, cp, bl, cl)
    got = summary(y[perm], bp[perm], cp[perm], bl[perm], cl[perm], index=lambda i: perm[i])
    assert got == want
    assert inv.size == y.size


# --- false alarms and detection on the synthetic world ---------------------------------------


def test_clean_churn_rarely_raises_any_test() -> None:
    flips, alarms = [], {"destination": 0, "attraction_count": 0, "attraction_shift": 0}
    for seed in SEEDS:
        y, bp, cp, bl, cl = pair(seed)
        flips.append(np.mean((bp == y) & (cp != y)))
        for test, cells in run_tests(y, bp, cp, bl, cl).items():
            alarms[test] += bool(cells)
    assert 0.02 < np.mean(flips) < 0.06  # clean retrains really do churn a few percent
    assert all(n <= 1 for n in alarms.values()), alarms


def test_targeted_flip_attack_is_found_in_its_cell() -> None:
    # 20% of class-3 canaries pushed hard toward 7: many confident regressions in one cell.
    found = [run_tests(*pair(seed, attack=(3, 7, 0.2, 6.0))) for seed in SEEDS]
    assert all((3, 7) in f["destination"] for f in found)
    assert sum((None, 7) in f["attraction_count"] for f in found) >= 18
    assert all(f["destination"] <= {(3, 7)} for f in found)  # no other cell is blamed


def test_diffuse_label_flip_is_found_by_the_shift_view_alone() -> None:
    # every class-3 canary nudged by 0.5 nats toward 7: under one canary crosses on average,
    # invisible to counts, yet the (3, 7) cell moves apart from all others.
    found = [run_tests(*pair(seed, attack=(3, 7, 1.0, 0.5))) for seed in SEEDS]
    assert sum((3, 7) in f["attraction_shift"] for f in found) >= 19
    assert sum(bool(f["destination"]) for f in found) <= 1


def test_attraction_shift_result_lists_the_moved_canaries() -> None:
    y, bp, cp, bl, cl = pair(0, attack=(3, 7, 0.2, 6.0))
    names = [f"c{k}" for k in range(10)]
    curves = self_calibrated_curves(y, bp, cp, bl)
    (shift,) = [
        r
        for r in attraction_test(y, bp, cp, bl, cl, curves, ALPHA, classes=names)
        if r.test == "attraction_shift"
    ]
    assert (shift.true_class, shift.new_class) == (3, 7)
    assert len(shift.indices) == 20 and all(y[i] == 3 for i in shift.indices)
    assert "'c3'" in shift.message and "'c7'" in shift.message


def test_margin_collapse_finds_the_clean_label_victim_only() -> None:
    found, false_alarms = 0, 0
    for seed in SEEDS:
        y, logits = world(seed)
        rng = np.random.default_rng(seed + 1)
        protected = np.zeros(y.size, dtype=bool)
        protected[rng.choice(y.size, 12, replace=False)] = True
        bl = log_softmax(logits)
        base_m = margins(bl, y)
        victim = int(np.flatnonzero(protected & (base_m > 3))[0])
        _, clean = retrain(y, logits, seed)
        poisoned = clean.copy()
        poisoned[victim, y[victim]] -= 3.0  # still right, but barely
        for logp, is_attack in ((clean, False), (log_softmax(poisoned), True)):
            results = margin_collapse(base_m, margins(logp, y), protected, ALPHA)
            hits = {r.index for r in results if r.significant}
            if is_attack:
                found += victim in hits
            else:
                false_alarms += bool(hits)
    assert found == len(SEEDS)
    assert false_alarms <= 2  # Holm at 0.05 over 12 protected canaries: ~1 in 20 expected


def test_margin_collapse_reports_a_flipped_protected_canary() -> None:
    base_m = np.linspace(0.5, 5, 100)
    cand_m = base_m + 0.01 * np.sin(np.arange(100))
    cand_m[50] = -0.2  # protected and now wrong
    protected = np.zeros(100, dtype=bool)
    protected[[10, 50]] = True
    (res,) = margin_collapse(base_m, cand_m, protected, ALPHA, ids=[f"id{i}" for i in range(100)])
    assert (res.index, res.flipped, res.significant) == (50, True, True)
    assert res.cand_margin == pytest.approx(-0.2) and "'id50'" in res.message


def test_small_cells_keep_their_power_under_heterogeneity() -> None:
    """15 regressions into a cell that expects 0.001: the p-value is the NB2 tail at that mean
    (variance e + h e^2), not one capped by a floor or a variance/mean ratio."""
    n = 100
    y = np.zeros(n, dtype=int)
    logp = np.log(np.column_stack([np.full(n, 0.9), np.full(n, 0.1)]))
    cand = np.zeros(n, dtype=int)
    cand[:15] = 1
    p_flip = 1e-5  # the curve: every canary flips with probability 1e-5, so e = 0.001
    curve = FlipCurve(b0=math.log(p_flip / (1 - p_flip)), b1=0.0, heterogeneity=2.0, n_flips=50)
    (cell,) = destination_test(y, y, cand, logp, curve, 0.01)
    assert cell.expected == pytest.approx(n * p_flip)
    size = 1 / (2.0 + 1 / 50)
    floor = 0.005  # an empty cell still expects this much (EXPECTED_FLOOR)
    assert cell.p_value == pytest.approx(sps.nbinom.sf(14, size, size / (size + floor)), rel=1e-6)
    assert cell.p_value < 1e-25 and cell.significant
