"""The paired regression test behind stats.mcnemar and stats.per_class: exact McNemar without a
calibration, net regressions against the controls' (a Student prediction test) with one."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from modelgate.analysis.calibration import Calibration
from modelgate.analysis.churn_checks import paired_regression_p
from modelgate.analysis.flipcurve import constant_curve
from modelgate.analysis.shift import ShiftNull


def calibration(
    net: list[tuple[int, ...]], k: int = 2, changed: list[tuple[int, ...]] | None = None
) -> Calibration:
    """A record whose only informative parts are the controls' net regressions and flips."""
    grid = tuple(tuple(1.0 for _ in range(k)) for _ in range(k))
    return Calibration(
        curves=tuple(constant_curve() for _ in range(k)),
        heterogeneity=0.0,
        shift_null=ShiftNull(mean=grid, sd=grid, df=10.0),
        n_controls=len(net),
        n_canaries=100,
        net_regressions=tuple(net),
        changed=tuple(changed or ()),
    )


def test_net_regression_null_hand_case() -> None:
    # overall nets 2, 4, 6: mean 4, sd 2, predictive sd 2 * sqrt(1 + 1/3), 2 degrees of freedom
    cal = calibration([(2, 1, 1), (4, 3, 1), (6, 0, 6)])
    mean, sd, df = cal.net_regression_null()
    assert (mean, df) == (4.0, 2.0)
    assert sd == pytest.approx(2 * math.sqrt(4 / 3))
    # class 1's column: 1, 1, 6 -> mean 8/3, sd sqrt(25/3)
    mean, sd, df = cal.net_regression_null(1)
    assert mean == pytest.approx(8 / 3)
    assert sd == pytest.approx(math.sqrt(25 / 3) * math.sqrt(4 / 3))


def test_net_regression_null_floors_the_spread_and_needs_two_controls() -> None:
    # identical controls would make any extra regression infinitely significant: floor sd at 1
    mean, sd, _ = calibration([(3, 3), (3, 3), (3, 3), (3, 3)]).net_regression_null()
    assert (mean, sd) == (3.0, pytest.approx(math.sqrt(1 + 1 / 4)))
    assert calibration([(3, 3)]).net_regression_null() is None
    assert calibration([]).net_regression_null() is None


def test_net_regression_spread_is_at_least_poisson() -> None:
    # nets 2, 4, 6 (sample variance 4) from controls that flipped 9, 12, 15 canaries either way:
    # a difference of two Poisson counts has variance their mean sum, 12 > 4.
    cal = calibration([(2, 0), (4, 0), (6, 0)], changed=[(9, 0), (12, 0), (15, 0)])
    mean, sd, df = cal.net_regression_null()
    assert (mean, df) == (4.0, 2.0)
    assert sd == pytest.approx(math.sqrt(12) * math.sqrt(4 / 3))
    # where the controls vary more than Poisson, their own variance stands
    wide = calibration([(0, 0), (4, 0), (20, 0)], changed=[(2, 0), (4, 0), (20, 0)])
    assert wide.net_regression_null()[1] == pytest.approx(math.sqrt(112) * math.sqrt(4 / 3))


def test_paired_regression_p_hand_case_against_controls() -> None:
    # t = (12 - 0 - 4) / (2 sqrt(4/3)) = sqrt(12); with 2 degrees of freedom the Student tail has
    # the closed form P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2 = (1 - sqrt(12/14)) / 2.
    cal = calibration([(2, 1), (4, 1), (6, 1)])
    p, test = paired_regression_p(12, 0, cal, None)
    assert test == "net_regressions_vs_controls"
    assert p == pytest.approx((1 - math.sqrt(12 / 14)) / 2, rel=1e-12)
    # a retrain exactly as good as the controls' average is right in the middle
    p, _ = paired_regression_p(7, 3, cal, None)
    assert p == pytest.approx(0.5)


def test_paired_regression_p_without_calibration_is_exact_mcnemar() -> None:
    # 8 right->wrong, 1 wrong->right: P(X >= 8 | Bin(9, 1/2)) = (9 + 1) / 512
    for cal in (None, calibration([(5, 5)])):  # one control cannot give a spread: McNemar
        p, test = paired_regression_p(8, 1, cal, None)
        assert test == "mcnemar_exact"
        assert p == pytest.approx(10 / 512, rel=1e-12)


@given(
    st.lists(st.integers(-20, 40), min_size=2, max_size=30),
    st.integers(0, 60),
    st.integers(0, 60),
)
def test_paired_regression_p_matches_scipy_student(nets: list[int], neg: int, pos: int) -> None:
    cal = calibration([(v, 0) for v in nets])
    p, _ = paired_regression_p(neg, pos, cal, None)
    mean = sum(nets) / len(nets)
    sd = max(float(sps.tstd(nets)) if len(set(nets)) > 1 else 0.0, 1.0)
    t = (neg - pos - mean) / (sd * math.sqrt(1 + 1 / len(nets)))
    assert p == pytest.approx(sps.t.sf(t, df=len(nets) - 1), rel=1e-9, abs=1e-300)
    more, _ = paired_regression_p(neg + 1, pos, cal, None)
    assert more <= p  # one more regression is never less evidence
