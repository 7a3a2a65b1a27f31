"""Controls probed on a seeded two fifths of the probe canaries: the bound their ceiling stores
is at least what probing every canary would give, but for the stated chance, and costs little
power."""

from __future__ import annotations

from dataclasses import replace
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from modelgate.probes.measure import ProbeCounts
from modelgate.probes.results import TriggerRun
from modelgate.probes.run import attraction, highest_attraction, sample_delta
from modelgate.probes.sample import (
    MISS,
    SAMPLE_FROM,
    control_sample,
    other_class_counts,
    upper_rates,
)


def test_the_sample_is_a_seeded_two_fifths_and_small_subsets_are_kept_whole() -> None:
    subset = np.arange(0, 4000, 2)
    one, two = control_sample(subset, "digest-a"), control_sample(subset, "digest-a")
    assert one is not None and two is not None
    assert np.array_equal(one, two) and one.size == 800
    assert np.all(np.diff(one) > 0) and np.isin(one, subset).all()
    other = control_sample(subset, "digest-b")
    assert other is not None and not np.array_equal(one, other)  # each suite its own draw
    assert control_sample(np.arange(SAMPLE_FROM - 1), "digest-a") is None


def test_other_class_counts_hand_case() -> None:
    assert other_class_counts(np.array([0, 0, 1, 2]), 4).tolist() == [2, 3, 3, 4]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.data())
def test_the_bound_is_the_largest_rate_the_count_does_not_reject(
    n: int, data: st.DataObject
) -> None:
    from scipy.stats import hypergeom

    m = data.draw(st.integers(0, n))
    h = data.draw(st.integers(0, m))
    delta = data.draw(st.sampled_from([1e-9, 1e-4, 0.05]))
    (bound,) = upper_rates(np.array([h]), np.array([m]), np.array([n]), delta)
    top = round(bound * n)
    assert h <= top <= h + n - m
    assert hypergeom.cdf(h, n, top, m) > delta  # kept
    if top < h + n - m:
        assert hypergeom.cdf(h, n, top + 1, m) <= delta  # the next rate up is rejected


def test_the_bound_covers_the_full_rate_at_its_level() -> None:
    rng = np.random.default_rng(0)
    n, m, delta = 900, 450, 0.05
    for full in (0, 9, 90, 300, 880):
        seen = rng.hypergeometric(full, n - full, m, size=4000)
        bound = upper_rates(seen[:, None], np.array([m]), np.array([n]), delta)[:, 0]
        assert np.mean(bound < full / n) <= delta


def test_the_bound_costs_little_against_the_gain_a_trigger_needs() -> None:
    n, m = 880, 352  # about one class's eligible canaries of other classes, 1,000 canaries
    delta = MISS / (174 * 10)  # 174 probes, 10 classes (one event per cell, any controls)
    for rate, most in ((0.0, 0.035), (0.02, 0.05), (0.3, 0.105)):
        full = round(rate * n)
        (bound,) = upper_rates(np.array([full * 2 // 5]), np.array([m]), np.array([n]), delta)
        assert full / n <= bound <= full / n + most


def test_the_ceiling_covers_the_highest_full_rate_without_a_share_per_control() -> None:
    # Twenty controls probed on one shared sample, one with a far higher full rate than the
    # rest. The ceiling (the maximum of their bounds, each at delta) must fall below the
    # highest full rate at most a delta of the time: no union over the controls is needed.
    # (The maximum of the sample rates themselves falls below it 45% of the time.)
    rng = np.random.default_rng(1)
    n, m, delta = 900, 360, 0.05
    full = np.array([60, *rng.integers(0, 30, 19)])
    moved = [rng.permutation(n)[:h] for h in full]  # which canaries each control moves
    misses = 0
    for _ in range(2000):
        drawn = np.zeros(n, dtype=bool)
        drawn[rng.choice(n, m, replace=False)] = True
        hits = np.array([[drawn[c].sum() for c in moved]])
        bounds = upper_rates(hits, np.array([m] * 20), np.array([n] * 20), delta)
        misses += bounds.max() < full.max() / n
    assert misses / 2000 <= delta
    # each control alone is covered at delta too, and the bound is not trivially wide
    assert bounds.max() < full.max() / n + 0.1


def _counts(hits: list[list[int]], population: list[int] | None) -> TriggerRun:
    counts = ProbeCounts(
        names=("patch/a", "patch/b"),
        hits=np.array(hits, dtype=np.int64),
        eligible=np.array([400, 410], dtype=np.int64),
        predicted=np.zeros((2, 1), dtype=np.int64),
        index=np.zeros(1, dtype=np.int64),
        population=None if population is None else np.array(population, dtype=np.int64),
    )
    return TriggerRun(counts, {"patch/a": "", "patch/b": ""}, None)


def test_a_sampled_control_gives_its_upper_bound_to_the_ceiling() -> None:
    whole = _counts([[0, 12], [40, 0]], None)
    half = _counts([[0, 12], [40, 0]], [800, 820])
    plain = attraction(whole)
    bounded = attraction(half, 1e-6)
    for name in plain:
        assert np.all(bounded[name] > plain[name])  # the sample's own share, raised
    with patch("modelgate.probes.run.BOUND_BELOW", 2):  # the plain maximum of the two
        ceiling = highest_attraction([half, whole])
    cells = 2 * 2  # (probe, class) cells: one event each, however many runs
    expected = upper_rates(
        half.counts.hits, half.counts.eligible, half.counts.population, MISS / cells
    )  # type: ignore[union-attr]
    np.testing.assert_array_equal(ceiling["patch/a"], np.maximum(expected[0], plain["patch/a"]))
    assert replace(half.counts, population=None).population is None


def test_given_bounds_give_the_same_ceiling() -> None:
    runs = [_counts([[0, 12], [40, 0]], [800, 820]), _counts([[3, 1], [0, 9]], [790, 830])]
    delta = sample_delta(runs)
    assert delta == MISS / 4
    given = highest_attraction(runs, [attraction(r, delta) for r in runs])
    plain = highest_attraction(runs)
    assert given.keys() == plain.keys()
    for key in plain:
        np.testing.assert_array_equal(given[key], plain[key])
    other = highest_attraction(runs, [attraction(r, delta * 100) for r in runs])
    assert any((other[key] < plain[key]).any() for key in plain)  # the level is what was given
