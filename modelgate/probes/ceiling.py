"""The clean ceiling a few control retrains can vouch for: their maximum, or more.

With 20 controls the most any of them reached is about the 95th percentile of what clean
retrains do with a probe (with 10, the 91st), and a candidate must beat it by `min_gain`. The
maximum of 4 is only about the 80th: one clean retrain in five beats it in each (probe, class)
cell, and where retrains disagree widely (a patch whose pull on one class swings with the
learning rate: measured 3-64% over clean digits retrains, 8-23% over the first 4 controls),
one of them beats it by more than `min_gain`. So below `BOUND_BELOW` controls each
cell's ceiling is also an upper prediction bound for the most `REFERENCE` clean retrains would
show, on the log-odds scale (shares are bounded and their spread across retrains is skewed: on
a synthetic world of Beta-distributed retrains a bound on raw shares let 2-8x more clean
candidates past it): the controls' mean log-odds plus the normal quantile of that maximum
times an upper confidence bound on their spread (chi-square, `LEVEL`), the spread a single
new retrain adds included. Few controls then mean a higher bar (less power), not more false
alarms; from BOUND_BELOW on, the plain maximum.

A cell's spread is never taken below the probe's spread over all its classes (the root mean
square of the per-class spreads): some cells are zero-inflated, so that 4 controls can all
show nothing where some clean retrains reach 30-40% (the text pairs chosen from each
model's most-rising words, towards one class: 14 of 20 controls under 5%, six at 8-37%; any
4 with no spread gave a 0-4% ceiling, and 6 of 315 clean candidates beat it by `min_gain`).
The probe's other classes show that its attraction does swing; with the pooled spread 0 of 315
(dev text draws; tables 1 -> 0 of 315, images 0 of 300; effective backdoors named 80 -> 71,
88 -> 86 and 164 -> 161 of 105, 105 and 190).

The bound replaced pooling each probe's ceiling with its neighbours' (same kind and size): on
images it changed nothing once the bound was in (dev digits, 5 sets of 4 controls: 0/300 clean
retrains flagged, 164/190 backdoors named either way), and on tables, where a feature's
neighbours are its own opposite extremes, the pool's ceiling was 98-100% for every probe of a
feature and hid most single-feature triggers (43/105 backdoors named pooled, 86/105 not).
"""

from __future__ import annotations

import math

import numpy as np

# With fewer controls than this, each ceiling is also the prediction bound.
BOUND_BELOW = 10
# The calibration size whose maximum the bound stands in for: the size from which the maximum
# alone is the ceiling, so that the bar does not jump at the boundary.
REFERENCE = BOUND_BELOW
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

    `rows` (n, K): one row of attraction per control, one column per class. One row, or no
    spread in any class, has nothing to go by: the values are returned as their maximum.
    """
    rows = np.asarray(rows, dtype=np.float64)
    top = rows.max(axis=0)
    n = rows.shape[0]
    if n < 2:
        return top
    shares = np.clip(rows, FLOOR, 1.0 - FLOOR)
    odds = np.log(shares / (1.0 - shares))
    own = odds.std(axis=0, ddof=1)
    spread = np.maximum(own, float(np.sqrt(np.mean(own**2))))  # the probe over its classes
    bound = 1.0 / (1.0 + np.exp(-(odds.mean(axis=0) + spread_factor(n) * spread)))
    return np.where(spread > 0, np.maximum(top, bound), top)  # no spread: nothing to add


def few_control_floor(rows: np.ndarray) -> np.ndarray:
    """Per class, the smaller of the clean models' smallest trigger and a lower prediction
    bound on the log scale (trigger sizes are positive and their spread across retrains is
    multiplicative): the mirror image of `few_control_ceiling`, so few inverted controls mean
    a lower floor (less power), never more false alarms. Unlike the ceiling, the bound stays
    at every count: a class is chosen from all of them, and the plain minimum of 10 clean
    models failed 1.6-1.9% of clean candidates on the synthetic world below (the bound at
    that count 0.3%; 9 models, bound: 0.2%; 21: 0.4%; 41: 0.5%).

    Why a floor at all: the blessed model's recovered trigger is one draw of a noisy search on
    one retrain. On a table of six classes, clean retrains' smallest triggers for one class
    ranged 0.68-1.86 features (20 controls; the blessed model's 1.50), and the size comparison
    against the blessed model alone failed 2 of those 20 clean retrains, 0 of 400 leave-one-out
    draws against a floor of 4 of the others (foreign_tabular draw 9). On a synthetic world of
    log-normal sizes (6 classes, spread 0.3) it failed 10% of clean candidates; against the
    floor of the blessed model and 1 or 4 controls 0.0% and 0.07%.

    `rows` (n, K): one row of sizes per clean model (the blessed one and the inverted
    controls); NaN where a class was not searched, inf where no trigger was found (neither
    counts). A class with no finite size gets NaN.
    """
    rows = np.asarray(rows, dtype=np.float64)
    usable = np.isfinite(rows) & (rows > 0)
    logs = np.where(usable, np.log(np.where(usable, rows, 1.0)), np.nan)
    counts = usable.sum(axis=0)
    low = np.where(counts > 0, np.where(usable, rows, np.inf).min(axis=0), np.nan)
    mean = np.where(usable, logs, 0.0).sum(axis=0) / np.maximum(counts, 1)
    squares = (np.where(usable, logs - mean, 0.0) ** 2).sum(axis=0)
    own = np.sqrt(squares / np.maximum(counts - 1, 1))
    spread_at = counts > 1
    if not spread_at.any():
        return low
    pooled = float(np.sqrt(np.mean(own[spread_at] ** 2)))  # the search over all its classes
    spread = np.maximum(np.where(spread_at, own, 0.0), pooled)
    floor = low.copy()
    for t in np.flatnonzero(spread_at & (spread > 0)):
        bound = math.exp(float(mean[t]) - spread_factor(int(counts[t])) * float(spread[t]))
        floor[t] = min(float(low[t]), bound)
    return floor
