"""The calibrated log-odds shift statistic: a hand case against scipy's Student tails."""

from __future__ import annotations

import numpy as np
import pytest
from churn_world import log_softmax
from scipy import stats as sps

from modelgate.analysis.shift import centre_rows, shift_statistics


def test_shift_statistics_hand_case_and_centring() -> None:
    # Class 0 canaries whose class-1 log-odds rose by 0.9, 1.0, 1.1, 1.0: mean 1, sd 0.0816,
    # t = 1 / (0.0816 / 2) = 24.49 on 3 degrees of freedom, mapped to the z with the same tail.
    # (Every baseline log-odds is -3, so there is no confidence trend to remove.)
    logits = np.array([[3.0, 0.0, 0.0]] * 4 + [[0.0, 3.0, 0.0]] * 4 + [[0.0, 0.0, 3.0]] * 4)
    y = np.repeat([0, 1, 2], 4)
    bump = logits.copy()
    bump[:4, 1] += np.array([0.9, 1.0, 1.1, 1.0])
    z = shift_statistics(y, log_softmax(logits), log_softmax(bump))
    t = 1.0 / (np.std([0.9, 1.0, 1.1, 1.0], ddof=1) / 2)
    assert t == pytest.approx(24.49, abs=0.01)
    assert z[0, 1] == pytest.approx(sps.norm.isf(sps.t.sf(t, df=3)), rel=1e-6)
    assert np.isnan(z[0, 0]) and abs(z[1, 0]) < 1e-6 and abs(z[0, 2]) < 1e-6
    # centring: each cell minus the mean of the other cells of its row (diagonal excluded)
    t = np.where(np.eye(6, dtype=bool), np.nan, np.arange(36.0).reshape(6, 6))
    c = centre_rows(t)
    assert c[0, 1] == pytest.approx(1 - (2 + 3 + 4 + 5) / 4)
    assert np.isnan(np.diag(c)).all()
    small = t[:4, :4]  # too few classes to centre: unchanged
    np.testing.assert_array_equal(centre_rows(small), small)
