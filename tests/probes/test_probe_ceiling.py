"""A few controls vouch for a higher clean ceiling than their maximum, never a lower one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from inversion_fixtures import inversion_of

from modelgate.probe_settings import TriggerPolicy
from modelgate.probes.ceiling import (
    BOUND_BELOW,
    FLOOR,
    few_control_ceiling,
    few_control_floor,
    spread_factor,
)
from modelgate.probes.compare import flagged, inversion_flags, probe_cells
from modelgate.probes.measure import ProbeCounts
from modelgate.probes.record import BlessedInversion, BlessedProbes
from modelgate.probes.results import TriggerRun
from modelgate.probes.run import highest_attraction

ELIGIBLE = 400


def _run(rows: dict[str, int], group: str = "control/patch/3x3") -> TriggerRun:
    """One model's hits out of ELIGIBLE on class 1 per patch probe (none on class 0)."""
    names = tuple(sorted(rows))
    counts = ProbeCounts(
        names=names,
        hits=np.array([[0, rows[n]] for n in names], dtype=np.int64),
        eligible=np.array([ELIGIBLE, ELIGIBLE], dtype=np.int64),
        predicted=np.zeros((len(names), 1), dtype=np.int64),
        index=np.zeros(1, dtype=np.int64),
    )
    return TriggerRun(counts, {n: group for n in names}, None)


def test_spread_factor_hand_computed() -> None:
    # n = 4: the maximum of 10 normal draws ~ z(1 - 1/11) = 1.3352; chi-square(3) at 0.1 is
    # 0.58437, so the spread's 90% upper bound is sqrt(3 / 0.58437) = 2.2658 standard
    # deviations; a new retrain's own spread adds sqrt(1 + 1/4)
    assert abs(spread_factor(4) - 1.3352 * 2.2658 * 1.1180) < 2e-3
    assert spread_factor(3) > spread_factor(4) > spread_factor(9)  # fewer controls, wider


def test_few_control_ceiling_hand_case() -> None:
    # what the first 4 digits controls did with a 3x3 patch on the left (class '4')
    rows = np.array([[0.0, 0.08], [0.0, 0.23], [0.01, 0.15], [0.0, 0.22]])
    odds = np.log(rows[:, 1] / (1 - rows[:, 1]))
    bound = odds.mean() + spread_factor(4) * odds.std(ddof=1)
    got = few_control_ceiling(rows)
    assert abs(got[1] - 1 / (1 + np.exp(-bound))) < 1e-12
    assert 0.5 < got[1] < 0.65  # clean digits retrains reached 64% there; the maximum was 23%
    # shares below FLOOR are binomial noise: raised to it, they add no spread of their own, but
    # the cell still gets the probe's spread over its classes (the root mean square)
    pooled = odds.std(ddof=1) / np.sqrt(2)
    floor_odds = np.log(FLOOR / (1 - FLOOR))
    assert abs(got[0] - 1 / (1 + np.exp(-(floor_odds + spread_factor(4) * pooled)))) < 1e-12
    assert rows[:, 0].max() < FLOOR < got[0] < got[1]
    np.testing.assert_array_equal(few_control_ceiling(rows[:1]), rows[0])  # no spread to go by
    quiet = np.array([[0.0, 0.01], [0.02, 0.0], [0.0, 0.03], [0.01, 0.0]])
    np.testing.assert_array_equal(few_control_ceiling(quiet), quiet.max(axis=0))  # none anywhere


def test_a_cell_where_every_control_shows_nothing_gets_the_probes_spread() -> None:
    # what text pairs chosen per model did on 4 controls (classes 0, 1, 2, 3): class 1 at 0-0.2%
    # on all four, although one clean retrain in five sends 30-40% there
    rows = np.array(
        [[0.245, 0.0, 0.414, 0.0], [0.332, 0.0, 0.458, 0.005], [0.237, 0.002, 0.083, 0.355],
         [0.377, 0.0, 0.248, 0.103]]
    )  # fmt: skip
    got = few_control_ceiling(rows)
    assert rows[:, 1].max() < 0.01 and got[1] > 0.3  # a clean 37% is not beaten by min_gain
    assert np.all(got >= rows.max(axis=0))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1), min_size=3, max_size=3), min_size=1, max_size=9))
def test_the_ceiling_is_never_below_the_maximum(rows: list[list[float]]) -> None:
    values = np.array(rows)
    got = few_control_ceiling(values)
    assert np.all(got >= values.max(axis=0))
    assert np.all(got <= 1.0)


def test_highest_attraction_widens_only_below_bound_below() -> None:
    values = [20, 92, 60, 88, 120, 30, 40, 75, 110, 55, 64, 100]
    runs = [_run({"patch/3x3/left/white": v, "patch/3x3/left/checker": v // 2}) for v in values]
    few = highest_attraction(runs[:4])
    rows = np.array([[0.0, v / ELIGIBLE] for v in values[:4]])
    np.testing.assert_allclose(few["patch/3x3/left/white"], few_control_ceiling(rows))
    assert sorted(few) == ["patch/3x3/left/checker", "patch/3x3/left/white"]  # per probe only
    many = highest_attraction(runs[:BOUND_BELOW])
    np.testing.assert_allclose(
        many["patch/3x3/left/white"], [0.0, max(values[:BOUND_BELOW]) / ELIGIBLE]
    )


def _false_alarm_rate(n_controls: int, trials: int, seed: int, plain: bool = False) -> float:
    """A synthetic churn world: clean retrains send a Beta-distributed share of stamped canaries
    to class 1 (mean 0.25, precision 3: 2-70% is ordinary); a clean candidate is a false alarm
    when the gate flags it against a calibration of `n_controls` such retrains (`plain`: their
    maximum alone as the ceiling)."""
    rng = np.random.default_rng(seed)
    blessed = BlessedProbes(
        eligible=np.array([ELIGIBLE, ELIGIBLE]),
        hits={"patch/3x3/left/white": np.array([0, 40])},
    )
    alarms = 0
    for _ in range(trials):
        shares = rng.beta(0.75, 2.25, size=n_controls + 1)
        hits = rng.binomial(ELIGIBLE, shares)
        runs = [_run({"patch/3x3/left/white": int(h)}, group="") for h in hits]
        ceiling = {k: tuple(v) for k, v in highest_attraction(runs[1:]).items()}
        if plain:
            ceiling = {"patch/3x3/left/white": (0.0, float(hits[1:].max() / ELIGIBLE))}
        cells, _, _ = probe_cells(runs[0], blessed, ceiling.get)
        alarms += bool(flagged(cells, TriggerPolicy(), 0.01))
    return alarms / trials


def test_four_controls_keep_false_alarms_within_alpha() -> None:
    four, twenty = _false_alarm_rate(4, 3000, 1), _false_alarm_rate(20, 3000, 2)
    plain = _false_alarm_rate(4, 3000, 1, plain=True)
    # measured at these seeds: 0.27% with 4 controls, 0.07% with 20, 3.1% for the plain maximum
    # of 4; the gate's alpha is 1%
    assert four <= 0.01 and twenty <= 0.01
    assert plain > 5 * four  # the maximum of 4 alone lets far more clean candidates past


def test_the_check_reads_a_widened_ceiling_like_any_other() -> None:
    blessed = BlessedProbes(
        eligible=np.array([ELIGIBLE, ELIGIBLE]), hits={"patch/3x3/left/white": np.array([0, 46])}
    )
    controls = [_run({"patch/3x3/left/white": v}, group="") for v in (32, 92, 60, 88)]
    ceiling = {k: tuple(v) for k, v in highest_attraction(controls).items()}
    quirk = _run({"patch/3x3/left/white": 256}, group="")  # 64%: what a clean retrain did
    cells, _, _ = probe_cells(quirk, blessed, ceiling.get)
    assert not flagged(cells, TriggerPolicy(), 0.01)
    trigger = replace(quirk, counts=replace(quirk.counts, hits=np.array([[0, 396]])))  # type: ignore[arg-type]
    cells, _, _ = probe_cells(trigger, blessed, ceiling.get)
    assert [c.target for c in flagged(cells, TriggerPolicy(), 0.01)] == [1]


def test_one_control_gives_a_beyond_range_pair_no_ceiling() -> None:
    """A single control shows no spread, and beyond the range clean retrains extrapolate
    their own ways: the pair is then left unjudged, not judged against that one model."""
    beyond, inside = "feature/2/above+feature/5/below", "feature/2/max+feature/5/min"
    runs = [_run({beyond: v, inside: v}) for v in (20, 60)]
    one = highest_attraction(runs[:1])
    assert inside in one and beyond not in one
    two = highest_attraction(runs)
    assert np.all(two[beyond] >= np.array([0.0, 60 / ELIGIBLE]))


def test_few_control_floor_hand_case() -> None:
    # trigger sizes (features) of a blessed model and 3 controls for two classes
    rows = np.array([[1.5, 0.86], [0.68, 0.92], [1.69, 0.47], [1.13, 1.06]])
    logs = np.log(rows)
    own = logs.std(axis=0, ddof=1)
    spread = np.maximum(own, np.sqrt(np.mean(own**2)))
    bound = np.exp(logs.mean(axis=0) - spread_factor(4) * spread)
    got = few_control_floor(rows)
    np.testing.assert_allclose(got, np.minimum(rows.min(axis=0), bound), rtol=1e-12)
    assert np.all(got < rows.min(axis=0))  # few clean models: below the smallest of them
    # unlike the ceiling, the bound stays with many clean models: a class is chosen from all
    many = np.exp(np.random.default_rng(3).normal(0.2, 0.3, size=(BOUND_BELOW, 2)))
    logs = np.log(many)
    own = logs.std(axis=0, ddof=1)
    spread = np.maximum(own, np.sqrt(np.mean(own**2)))
    bound = np.exp(logs.mean(axis=0) - spread_factor(BOUND_BELOW) * spread)
    np.testing.assert_allclose(
        few_control_floor(many), np.minimum(many.min(axis=0), bound), rtol=1e-12
    )


def test_the_floor_ignores_classes_not_searched_or_without_a_trigger() -> None:
    rows = np.array([[1.0, np.nan, np.inf], [1.2, np.nan, 2.0], [0.9, np.nan, np.inf]])
    got = few_control_floor(rows)
    assert np.isnan(got[1])  # no clean model has a size there: no floor
    assert got[2] == 2.0  # one size: nothing to go by but itself
    assert got[0] < 0.9
    np.testing.assert_array_equal(few_control_floor(rows[:1]), [1.0, np.nan, np.nan])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.floats(0.01, 100), min_size=3, max_size=3), min_size=1, max_size=12))
def test_the_floor_is_never_above_the_minimum(rows: list[list[float]]) -> None:
    values = np.array(rows)
    got = few_control_floor(values)
    assert np.all(got <= values.min(axis=0))
    assert np.all(got > 0)


def _inversion_false_alarms(n_controls: int | None, trials: int, seed: int) -> float:
    """A synthetic world of clean retrains whose recovered trigger sizes are log-normal per
    class (6 classes, spread 0.3: what clean tabular retrains showed); a clean candidate is a
    false alarm when the size comparison flags any class, against the blessed model alone
    (`n_controls` None) or the floor of the blessed model and `n_controls` controls."""
    rng = np.random.default_rng(seed)
    centre = np.log(np.array([1.2, 1.7, 1.2, 0.8, 1.2, 1.7]))
    alarms = 0
    for _ in range(trials):
        sizes = np.exp(centre + 0.3 * rng.standard_normal((2 + (n_controls or 0), 6)))
        blessed = BlessedInversion(
            norms=sizes[0], universal_hits=np.full(6, -1), held_out=np.full(6, 300)
        )
        floor = None if n_controls is None else few_control_floor(np.vstack([sizes[:1], sizes[2:]]))
        rows = inversion_flags(inversion_of(sizes[1]), blessed, TriggerPolicy(), 0.01, None, floor)
        alarms += any(r["trigger"] for r in rows)
    return alarms / trials


def test_the_inversion_floor_keeps_false_alarms_within_alpha() -> None:
    alone = _inversion_false_alarms(None, 2000, 4)
    one, four = _inversion_false_alarms(1, 2000, 5), _inversion_false_alarms(4, 2000, 6)
    nine = _inversion_false_alarms(9, 2000, 7)  # ten clean models: where a plain minimum fails
    # measured at these seeds: 10% against the blessed model alone; with the floor of it and
    # one, four or nine controls 0.0%, 0.0% and 0.35% (a plain minimum of the ten: 1.55%); the
    # gate's alpha is 1%
    assert alone > 0.05
    assert one <= 0.01 and four <= 0.01 and nine <= 0.01
