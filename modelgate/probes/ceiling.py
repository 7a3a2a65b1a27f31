"""The clean ceiling a few control retrains can vouch for: their maximum, or more.

With 20 controls the most any of them reached is about the 95th percentile of what clean
retrains do with a probe (with 10, the 91st), and a candidate must beat it by `min_gain`. The
maximum of 4 is only about the 80th: one clean retrain in five beats it in each (probe, class)
cell, and where retrains disagree widely (a patch whose pull on one class swings with the
learning rate: measured 3-64% over clean digits retrains, 8-23% over the first 4 controls),
one of them beats it by more than `min_gain`. So below `compare.POOL_BELOW` controls each
cell's ceiling is also an upper prediction bound for the most `REFERENCE` clean retrains would
show, on the log-odds scale (shares are bounded and their spread across retrains is skewed: on
a synthetic world of Beta-distributed retrains a bound on raw shares let 2-8x more clean
candidates past it): the controls' mean log-odds plus the normal quantile of that maximum
times an upper confidence bound on their spread (chi-square, `LEVEL`), the spread a single
new retrain adds included. Few controls then mean a higher bar (less power), not more false
alarms; from POOL_BELOW on, the plain maximum.
"""

from __future__ import annotations

import math

import numpy as np

from modelgate.probes.compare import POOL_BELOW

# The calibration size whose maximum the bound stands in for: the size from which the maximum
# alone is the ceiling, so that the bar does not jump at the boundary.
REFERENCE = POOL_BELOW
LEVEL = 0.9  # confidence that the spread is not larger than the bound assumes
# Shares are raised to this before their log-odds: below it two retrains differ by a few
# canaries' binomial noise, not by their recipe, and `min_gain` already covers that.
FLOOR = 0.05


def spread_factor(n: int) -> float:
    """How many of the n controls' standard deviations the bound adds to their mean."""
    from scipy.stats import chi2, norm  # here: only calibrations with probes pay for it

    quantile = float(norm.isf(1.0 / (REFERENCE + 1)))  # the maximum of REFERENCE draws
    upper_sd = math.sqrt((n - 1) / float(chi2.ppf(1.0 - LEVEL, n - 1)))
    return quantile * upper_sd * math.sqrt(1.0 + 1.0 / n)


def few_control_ceiling(rows: np.ndarray) -> np.ndarray:
    """Per class, the larger of the controls' maximum and the prediction bound.

    `rows` (n, K): one row of attraction per control. One row has no spread to go by: its
    values are returned as they are.
    """
    rows = np.asarray(rows, dtype=np.float64)
    top = rows.max(axis=0)
    n = rows.shape[0]
    if n < 2:
        return top
    shares = np.clip(rows, FLOOR, 1.0 - FLOOR)
    odds = np.log(shares / (1.0 - shares))
    spread = odds.std(axis=0, ddof=1)
    bound = 1.0 / (1.0 + np.exp(-(odds.mean(axis=0) + spread_factor(n) * spread)))
    return np.where(spread > 0, np.maximum(top, bound), top)  # no spread: nothing to add
