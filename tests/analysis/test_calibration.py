"""Churn calibration from control retrains: what it stores, how it round-trips, what it buys."""

from __future__ import annotations

import json

import numpy as np
import pytest
from churn_world import SEEDS, controls, log_softmax, retrain, run_tests, world

from modelgate.analysis.calibration import Calibration, calibrate
from modelgate.errors import CalibrationError


def test_calibrated_null_keeps_false_alarms_low_and_finds_attacks() -> None:
    alarms, found = 0, 0
    for seed in SEEDS:
        y, logits = world(seed)
        bl = log_softmax(logits)
        bp = bl.argmax(axis=1)
        cal = calibrate(y, bp, bl, controls(y, logits, seed))
        assert cal.heterogeneity >= 1 / 3 and cal.n_controls == 3
        cp, cl = retrain(y, logits, seed)
        alarms += any(run_tests(y, bp, cp, bl, cl, calibration=cal).values())
        cp, cl = retrain(y, logits, seed, attack=(3, 7, 0.2, 6.0))
        found += (3, 7) in run_tests(y, bp, cp, bl, cl, calibration=cal)["destination"]
    assert alarms <= 2  # any of three tests, 20 clean retrains
    assert found == len(SEEDS)


def test_calibration_round_trips_deterministically() -> None:
    y, logits = world(5, k=4, per_class=60)
    bl = log_softmax(logits)
    cal = calibrate(y, bl.argmax(axis=1), bl, controls(y, logits, 5, n=2))
    text = json.dumps(cal.to_dict(), sort_keys=True)
    again = calibrate(y, bl.argmax(axis=1), bl, controls(y, logits, 5, n=2))
    assert json.dumps(again.to_dict(), sort_keys=True) == text
    back = Calibration.from_dict(json.loads(text))
    assert json.dumps(back.to_dict(), sort_keys=True) == text
    assert list(cal.to_dict()) == sorted(cal.to_dict())
    assert len(cal.changed) == len(cal.net_regressions) == 2
    one = calibrate(y, bl.argmax(axis=1), bl, controls(y, logits, 5, n=1))
    # one control says little about spread: heavy (few degrees of freedom) tails, not normal ones
    assert Calibration.from_dict(json.loads(json.dumps(one.to_dict()))).shift_null.df <= 5


@pytest.mark.parametrize(("n", "df"), [(2, 6.0), (4, 8.0), (14, 18.0), (20, 19.0)])
def test_shift_null_tail_weighs_few_controls_and_caps_at_t19(n: int, df: float) -> None:
    # c controls: c - 1 degrees of their own and 5 from the pooled prior, never above t19
    y, logits = world(7, k=4, per_class=60)
    bl = log_softmax(logits)
    cal = calibrate(y, bl.argmax(axis=1), bl, controls(y, logits, 7, n=n))
    assert cal.shift_null.df == df


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="something-else"),
        lambda d: d.update(version=99),
        lambda d: d.pop("curves"),
        lambda d: d["shift_null"]["sd"].pop(),
        lambda d: d["shift_null"]["sd"][0].__setitem__(1, -1.0),
        lambda d: d["curves"][0].update(heterogeneity=-0.2),
        lambda d: d.update(changed=[[1, 0, 0, 0, 0]]),  # not one row per control
        lambda d: d.update(probe_max={"patch/x": [0.1, 0.2]}),  # not one share per class
        lambda d: d.update(probe_max={"patch/x": [0.1, 0.2, 1.5, 0.0]}),  # not a share
        lambda d: d.update(probe_max=["patch/x"]),
        lambda d: d.update(inversion_floor=[1.0, 2.0], inversion_controls=1),  # not K sizes
        lambda d: d.update(inversion_floor=[1.0, -2.0, None, 3.0], inversion_controls=1),
        lambda d: d.update(inversion_floor=[1.0, 0.0, None, 3.0], inversion_controls=1),
        lambda d: d.update(inversion_floor=[1.0, 2.0, None, 3.0], inversion_controls=0),
        lambda d: d.update(inversion_floor=[], inversion_controls=2),  # counts none it holds
        lambda d: d.update(inversion_floor=[1.0, 2.0, None, 3.0], inversion_controls=9),
        lambda d: d.update(inversion_floor=[1.0, "2", None, 3.0], inversion_controls=1),
    ],
)
def test_calibration_from_dict_rejects_malformed_records(mutate) -> None:
    y, logits = world(5, k=4, per_class=60)
    bl = log_softmax(logits)
    data = calibrate(y, bl.argmax(axis=1), bl, controls(y, logits, 5, n=2)).to_dict()
    mutate(data)
    with pytest.raises(CalibrationError):
        Calibration.from_dict(data)


def test_an_inversion_floor_round_trips_with_its_unsearched_classes() -> None:
    y, logits = world(5, k=4, per_class=60)
    bl = log_softmax(logits)
    data = calibrate(y, bl.argmax(axis=1), bl, controls(y, logits, 5, n=2)).to_dict()
    data.update(inversion_floor=[1.25, None, 0.5, 3.0], inversion_controls=2)
    back = Calibration.from_dict(data)
    assert back.inversion_controls == 2
    assert back.inversion_floor[0] == 1.25 and np.isnan(back.inversion_floor[1])
    assert back.to_dict() == data


def test_shift_null_tail_is_never_lighter_than_the_controls_judged_against_each_other() -> None:
    """Controls whose recipe now and then moves one class pair (two of twenty pull 2 -> 5):
    the pooled prior makes that cell's spread too narrow, the controls judged against each
    other show it, and the tail is fitted heavier than the t19 of 20 controls, so that each
    control, judged against the others' calibration, passes."""
    y, logits = world(8, k=6, per_class=80)
    bl = log_softmax(logits)
    bp = bl.argmax(axis=1)
    ctl = [
        retrain(y, logits, 900 + j, attack=(2, 5, 0.3, 4.0) if j % 10 == 0 else None)
        for j in range(20)
    ]
    plain = [retrain(y, logits, 900 + j) for j in range(20)]
    assert calibrate(y, bp, bl, plain).shift_null.df == 19.0  # clean controls: the law
    cal = calibrate(y, bp, bl, ctl)
    assert cal.shift_null.df < 19.0
    for j in range(20):
        others = calibrate(y, bp, bl, ctl[:j] + ctl[j + 1 :])
        cp, cl = ctl[j]
        assert not run_tests(y, bp, cp, bl, cl, calibration=others)["attraction_shift"]
