"""The per-canary reversal null: hand cases, the synthetic churn world, and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

from modelgate.analysis import cells, reversal
from modelgate.analysis.reversal import (
    DF_RANGE,
    MIN_SCALE,
    PRIOR_DF,
    FlipWeightedFamily,
    calibrated_null,
    controls_cap,
    count_tail,
    fit_tail,
    log_odds,
    reversal_test,
    reversal_z,
    self_null,
)
from modelgate.analysis.reversal import _joint_adjusted as joint_adjusted
from modelgate.analysis.reversal import _trend as trend
from tests.analysis.churn_world import log_softmax, retrain, world

ALPHA = 0.01


def _attack_one(y: np.ndarray, logits: np.ndarray, seed: int, canary: int, to: int) -> tuple:
    """A clean retrain in which one confident canary is pushed to class `to`."""
    _, cand_logp = retrain(y, logits, seed)
    boosted = cand_logp.copy()
    boosted[canary, to] = boosted[canary].max() + 3.0
    boosted = log_softmax(boosted)
    return boosted.argmax(axis=1), boosted


def test_log_odds_hand_case() -> None:
    logp = np.log(np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 1e-30]]))
    odds = log_odds(logp, np.array([0, 1]))
    assert odds[0, 0] == 0.0 and odds[1, 1] == 0.0
    assert odds[0, 1] == pytest.approx(math.log(0.2 / 0.7))
    assert odds[1, 2] == pytest.approx(-12.0 - math.log(0.5))  # floored at e^-12


def test_calibrated_null_is_each_cells_mean_and_shrunk_spread() -> None:
    y, logits = world(0, k=3, per_class=40)
    controls = np.array([retrain(y, logits, s)[1] for s in (1, 2, 3, 4)])
    null = calibrated_null(y, controls)
    odds = np.array([log_odds(lp, y) for lp in controls])
    np.testing.assert_allclose(null.expected, odds.mean(axis=0))
    var = odds.var(axis=0, ddof=1)
    off = np.ones(odds.shape[1:], dtype=bool)
    off[np.arange(y.size), y] = False
    # every cell's spread lies between its own and the pooled one, times sqrt(1 + 1/c)
    own = np.sqrt(var) * math.sqrt(1 + 1 / 4)
    hi = np.sqrt((3 * var + PRIOR_DF * var[off].max()) / (3 + PRIOR_DF)) * math.sqrt(1.25)
    assert np.all(null.scale[off] <= np.maximum(hi[off], MIN_SCALE * math.sqrt(1.25)) + 1e-9)
    assert np.all(null.scale[off] >= MIN_SCALE * math.sqrt(1.25) - 1e-9)
    assert np.all((null.scale[off] >= own[off] - 1e-9) | (own[off] > np.median(own[off])))
    assert DF_RANGE[0] <= null.df <= DF_RANGE[1]


def test_fit_tail_keeps_normal_light_and_widens_for_heavy_tails() -> None:
    rng = np.random.default_rng(0)
    assert fit_tail(rng.normal(size=50_000), cap=30.0) == 30.0
    assert fit_tail(rng.normal(size=50_000)) >= 40.0  # its largest value decides beyond t30
    heavy = fit_tail(student_t.rvs(3, size=50_000, random_state=1))
    assert heavy <= 4.0
    assert fit_tail(np.zeros(5)) == DF_RANGE[0]  # too few to fit: the heaviest tail


def test_controls_cap_grows_with_the_models_that_vouch_for_it() -> None:
    # t(5 + c) up to ten models, three degrees a model beyond, never lighter than t60
    assert [controls_cap(c) for c in (3, 5, 10, 11, 21, 40)] == [8.0, 10.0, 15.0, 18.0, 48.0, 60.0]


@pytest.mark.parametrize("n_controls", [4, 20])
def test_clean_retrains_pass_and_a_confident_reversal_is_named(n_controls: int) -> None:
    alarms, found = 0, 0
    for seed in range(10):
        y, logits = world(seed, k=5, per_class=60)
        base = log_softmax(logits)
        controls = np.array([retrain(y, logits, seed + 100 * j)[1] for j in range(n_controls)])
        null = calibrated_null(y, controls)
        cand_pred, cand_logp = retrain(y, logits, seed + 7)
        alarms += bool(reversal_test(y, base.argmax(1), cand_pred, base, cand_logp, null, ALPHA))
        margin = base[np.arange(y.size), y] - np.where(np.eye(5, dtype=bool)[y], -np.inf, base).max(
            axis=1
        )
        canary = int(np.argmax(margin))  # the most confident canary
        to = int((y[canary] + 2) % 5)  # not its runner-up
        pred, logp = _attack_one(y, logits, seed + 7, canary, to)
        hits = reversal_test(y, base.argmax(1), pred, base, logp, null, ALPHA)
        found += any(r.index == canary and r.new_class == to for r in hits)
    assert alarms == 0
    assert found >= 8


def test_self_calibration_without_controls_is_conservative_on_clean_pairs() -> None:
    for seed in range(10):
        y, logits = world(seed, k=5, per_class=60)
        base = log_softmax(logits)
        pred, logp = retrain(y, logits, seed + 3)
        null = self_null(y, base, logp)
        assert null.source == "self"
        assert reversal_test(y, base.argmax(1), pred, base, logp, null, ALPHA) == []


@pytest.mark.parametrize("rows", [7, 1000])
def test_without_a_null_the_test_is_the_self_null_s_value_for_value(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`reversal_test(..., None, ...)` computes `self_null` block by block without its (N, K)
    tables: the same reversals, bit for bit, however the canaries fall into blocks."""
    monkeypatch.setattr(cells, "BLOCK_ROWS", rows)
    y, logits = world(6, k=6, per_class=200)
    base = log_softmax(logits).astype(np.float32)
    _, cand = retrain(y, logits, 9, attack=(2, 4, 0.3, 4.0))
    right = np.flatnonzero(base.argmax(1) == y)
    for i, boost in zip(right[::97], np.linspace(2.0, 30.0, right[::97].size)):
        cand[i, (y[i] + 1) % 6] = cand[i].max() + boost
    cand = log_softmax(cand).astype(np.float32)
    pred = cand.argmax(1)
    for alpha in (ALPHA, 0.3):
        lean = reversal_test(y, base.argmax(1), pred, base, cand, None, alpha)
        whole = reversal_test(y, base.argmax(1), pred, base, cand, self_null(y, base, cand), alpha)
        assert lean and [repr(r) for r in lean] == [repr(r) for r in whole]


def test_cells_are_the_masked_table_in_order_and_grouped_by_band() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 4))
    off = rng.random((50, 4)) < 0.7
    block = cells.BLOCK_ROWS
    try:
        cells.BLOCK_ROWS = 6
        c = cells.Cells(off)
    finally:
        cells.BLOCK_ROWS = block
    values = cells.table_values(table)
    np.testing.assert_array_equal(c.gather(values, np.empty(200)), table[off])
    band = c.bands(values, np.array([-0.5, 0.0, 0.5]))
    np.testing.assert_array_equal(band, np.searchsorted([-0.5, 0.0, 0.5], table[off], "right"))
    out = np.empty(c.size)
    starts = c.grouped(values, band, 5, out)
    for j in range(5):  # each band's values in cell order; band 4 is empty
        np.testing.assert_array_equal(out[starts[j] : starts[j + 1]], table[off][band == j])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_a_candidate_identical_to_the_baseline_shows_no_reversal(seed: int) -> None:
    y, logits = world(seed % 50, k=4, per_class=30)
    base = log_softmax(logits)
    controls = np.array([retrain(y, logits, seed + j)[1] for j in range(3)])
    for null in (calibrated_null(y, controls), self_null(y, base, base)):
        assert reversal_test(y, base.argmax(1), base.argmax(1), base, base, null, ALPHA) == []


def test_flip_weighted_family_hand_case() -> None:
    """Cells at or below z are charged sf(z); near cells above it sf(z0); far ones sf(far)."""
    df, alpha = 10.0, 0.01
    family = FlipWeightedFamily(np.array([0.0, 2.0, 4.0, 50.0]), df, alpha)
    far = student_t.isf(alpha / 4000, df)
    assert family.far == pytest.approx(far) and family.n_far == 1
    sf = student_t.sf
    expected = 2 * sf(3.0, df) + sf(4.0, df) + sf(far, df)
    assert family.adjusted(np.array([3.0]))[0] == pytest.approx(expected)
    assert family.adjusted(np.array([-5.0]))[0] == pytest.approx(
        sf(0.0, df) + sf(2.0, df) + sf(4.0, df) + sf(far, df)
    )
    assert FlipWeightedFamily(np.zeros(10), df, alpha).adjusted(np.array([0.0]))[0] == 1.0
    # beyond every near cell, the bound is plain Bonferroni over those cells
    assert family.adjusted(np.array([5.0]))[0] == pytest.approx(3 * sf(5.0, df) + sf(far, df))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), z=st.floats(-3, 30))
def test_flip_weighting_never_costs_power_against_bonferroni(seed: int, z: float) -> None:
    rng = np.random.default_rng(seed)
    at_flip = rng.uniform(-2, 15, size=int(rng.integers(1, 400)))
    family = FlipWeightedFamily(at_flip, 8.0, ALPHA)
    bound = float(family.adjusted(np.array([z]))[0])
    assert bound <= min(1.0, at_flip.size * student_t.sf(z, 8.0)) + 1e-12
    assert bound >= min(1.0, np.count_nonzero(at_flip <= z) * student_t.sf(z, 8.0)) - 1e-12


def test_flip_weighting_keeps_the_family_wise_error_rate() -> None:
    """Null cells drawn from the t the bound assumes: a cell is reported only where it flips
    (z >= z0) and its bound is <= alpha; over many worlds that happens at most alpha of the
    time (plus Monte Carlo error)."""
    rng = np.random.default_rng(11)
    df, alpha, worlds, alarms = 6.0, 0.05, 4000, 0
    at_flip = np.concatenate([rng.uniform(0, 3, 30), rng.uniform(3, 12, 3000)])
    family = FlipWeightedFamily(at_flip, df, alpha)
    for _ in range(worlds):
        z = student_t.rvs(df, size=at_flip.size, random_state=rng)
        flipped = z >= at_flip
        alarms += bool(flipped.any() and (family.adjusted(z[flipped]) <= alpha).any())
    assert alarms / worlds <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / worlds)
    assert alarms > 0  # the bound is used, not wasted: some alarms at this alpha


def test_a_low_margin_reversal_is_found_where_bonferroni_over_all_cells_misses_it() -> None:
    y, logits = world(3, k=10, per_class=100)
    logits = 3.0 * logits  # a confident model: most cells sit at the e^-12 floor
    base = log_softmax(logits)
    controls = np.array([retrain(y, logits, 300 + j)[1] for j in range(20)])
    null = calibrated_null(y, controls)
    right = base.argmax(1) == y
    others = np.where(np.eye(10, dtype=bool)[y], -np.inf, base)
    margin = base[np.arange(y.size), y] - others.max(axis=1)
    canary = int(np.flatnonzero(right)[np.argsort(margin[right])[len(margin[right]) // 4]])
    to = int(np.argmax(others[canary]))  # its runner-up: what churn moves it to anyway
    _, cand = retrain(y, logits, 999)
    found = None
    for boost in np.arange(0.5, 12.0, 0.25):
        attacked = cand.copy()
        attacked[canary, to] = attacked[canary].max() + boost
        attacked = log_softmax(attacked)
        hits = reversal_test(y, base.argmax(1), attacked.argmax(1), base, attacked, null, ALPHA)
        if any(r.index == canary and r.new_class == to for r in hits):
            found = next(r for r in hits if r.index == canary)
            break
    assert found is not None
    cells = int(right.sum()) * 9
    assert cells * student_t.sf(found.z, null.df) > ALPHA  # Bonferroni over all cells: missed
    assert found.p_adjusted <= ALPHA


def test_the_blessed_model_counts_as_one_more_clean_retrain() -> None:
    """Each cell's mean is that of the controls and the blessed model; where the blessed model
    sits far from the controls' consensus, that cell's spread widens and its z falls."""
    y, logits = world(5, k=5, per_class=60)
    canary = int(np.flatnonzero(log_softmax(logits).argmax(1) == y)[0])
    to = int((y[canary] + 1) % 5)
    logits[canary, to] = logits[canary, y[canary]] - 8.0  # the controls agree: far from `to`
    controls = np.array([retrain(y, logits, 40 + j)[1] for j in range(6)])
    blessed = logits.copy()
    blessed[canary, to] = blessed[canary, y[canary]] - 0.3  # right, but only just
    base = log_softmax(blessed)
    alone, both = calibrated_null(y, controls), calibrated_null(y, controls, base)
    odds = np.array([log_odds(lp, y) for lp in [*controls, base]])
    np.testing.assert_allclose(both.expected, odds.mean(axis=0))
    assert both.scale[canary, to] > alone.scale[canary, to]
    cand = base.copy()
    cand[canary, to] += 3.0
    cand = log_softmax(cand)
    z_alone = reversal_z(alone, y, cand)[0][canary, to]
    assert reversal_z(both, y, cand)[0][canary, to] < z_alone


def test_the_trend_follows_each_band_of_log_odds_not_one_line() -> None:
    """A more confident recipe: cells far from the flip line move by nats, near ones not at
    all. One line through every cell would drag the near cells down with the far ones."""
    rng = np.random.default_rng(3)
    n, k = 4000, 5
    expected = rng.uniform(-12, 0, (n, k))
    y = rng.integers(0, k, n)
    expected[np.arange(n), y] = 0.0
    off = np.ones((n, k), dtype=bool)
    off[np.arange(n), y] = False
    observed = np.where(expected < -6, 1.5 * expected + 3.0, expected)  # continuous at -6
    observed += rng.normal(0, 0.1, (n, k))
    moved = trend(expected, observed, off)
    near = off & (expected > -3)
    far = off & (expected < -9)
    assert np.abs(moved[near] - expected[near]).max() < 0.5
    assert np.abs(moved[far] - (1.5 * expected[far] + 3.0)).max() < 1.0
    # a handful of attacked cells do not move it
    attacked = observed.copy()
    attacked[np.flatnonzero(off[:, 1])[:5], 1] += 12.0
    assert np.abs(trend(expected, attacked, off) - moved).max() < 0.05
    # too few cells for bands: one shift, the median difference
    few = np.zeros((10, 2), dtype=bool)
    few[:, 1] = True
    shifted = trend(expected[:10, :2], expected[:10, :2] + 0.7, few)
    np.testing.assert_allclose(shifted[:, 1], expected[:10, 1] + 0.7)


def test_count_tail_hand_case_and_it_bounds_independent_events() -> None:
    assert count_tail(3, 0.1) == pytest.approx(math.exp(-0.1) * (math.e * 0.1 / 3) ** 3)
    assert count_tail(2, 2.0) == 1.0 and count_tail(2, 0.0) == 0.0
    means = np.linspace(0.01, 3.9, 50)
    assert np.all(np.diff([count_tail(4, m) for m in means]) > 0)  # grows with the mean
    rng = np.random.default_rng(5)
    for _ in range(200):  # exact tails of sums of independent Bernoullis (Poisson binomial)
        p = rng.uniform(0, rng.uniform(0.001, 0.3), int(rng.integers(1, 60)))
        dist = np.zeros(p.size + 1)
        dist[0] = 1.0
        for q in p:
            dist[1:] = dist[1:] * (1 - q) + dist[:-1] * q
            dist[0] *= 1 - q
        for k in range(1, min(p.size, 8) + 1):
            assert dist[k:].sum() <= count_tail(k, float(p.sum())) + 1e-12


def test_the_joint_test_keeps_the_family_wise_error_rate_on_independent_null_cells() -> None:
    """Null cells drawn independently from the assumed t: a set is reported at most alpha of
    the time; and k cells well past the family's typical values are reported together."""
    rng = np.random.default_rng(12)
    df, alpha, worlds, alarms = 8.0, 0.2, 2000, 0
    at_flip = np.concatenate([rng.uniform(0, 3, 200), rng.uniform(3, 12, 2000)])
    family = FlipWeightedFamily(at_flip, df, alpha)
    for _ in range(worlds):
        z = student_t.rvs(df, size=at_flip.size, random_state=rng)
        flipped = z >= at_flip
        if flipped.any():
            p_set, _ = joint_adjusted(family, z[flipped])
            alarms += bool((p_set <= alpha).any())
    assert alarms / worlds <= alpha
    grid = np.linspace(0, 30, 3001)
    level = grid[np.argmax(family.expected_count(grid) <= 0.05)]  # 0.05 cells expected beyond
    z_hit = np.array([level + 0.4, level + 0.3, level + 0.2, level + 0.1, level, 1.0])
    p_set, size = joint_adjusted(family, z_hit)
    single = np.minimum(family.adjusted(z_hit) / 0.5, 1)
    assert np.all(single[:5] > 0.01) and np.all(p_set[:5] <= 0.01)
    assert list(size[:5]) == [5] * 5 and size[5] in (0, 6)  # the set of the five, not more


def test_canaries_moved_together_are_named_where_each_alone_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five low-margin canaries each pushed to their runner-up class by the same amount (what
    clean churn does to such canaries too, only less): the joint test names them at a push
    where no single one passes the single-cell line."""
    y, logits = world(4, k=10, per_class=100)
    logits = 3.0 * logits
    base = log_softmax(logits)
    controls = np.array([retrain(y, logits, 500 + j)[1] for j in range(20)])
    null = calibrated_null(y, controls, base)
    right = np.flatnonzero(base.argmax(1) == y)
    others = np.where(np.eye(10, dtype=bool)[y], -np.inf, base)
    margin = base[np.arange(y.size), y] - others.max(axis=1)
    targets = right[np.argsort(margin[right])[20:25]]  # low-margin, not the lowest
    _, cand = retrain(y, logits, 777)
    assert not reversal_test(y, base.argmax(1), cand.argmax(1), base, cand, null, ALPHA)
    found = None
    for boost in np.arange(0.5, 12.0, 0.25):
        attacked = cand.copy()
        for t in targets:
            attacked[t, np.argmax(others[t])] = attacked[t].max() + boost  # its runner-up
        attacked = log_softmax(attacked)
        hits = reversal_test(y, base.argmax(1), attacked.argmax(1), base, attacked, null, ALPHA)
        if hits:
            found = hits
            break
    assert found is not None
    assert len(found) >= 3 and {r.index for r in found} <= set(targets.tolist())
    assert all(r.together >= len(found) and r.p_adjusted <= ALPHA for r in found)
    monkeypatch.setattr(reversal, "JOINT_MAX", 1)  # single cells only: none passes at this push
    assert not reversal_test(y, base.argmax(1), attacked.argmax(1), base, attacked, null, ALPHA)
