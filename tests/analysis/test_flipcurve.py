"""The margin-conditioned flip curve: the MLE, its edge cases and self-calibration."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from churn_world import pair
from scipy.special import expit

from modelgate.analysis.flipcurve import FlipCurve, fit_flip_curve, self_calibrated_curves
from modelgate.analysis.stats import margins
from modelgate.errors import CalibrationError


def test_fit_flip_curve_recovers_a_known_curve() -> None:
    rng = np.random.default_rng(0)
    m = rng.uniform(0, 5, 20_000)
    flipped = rng.random(m.size) < expit(1.0 - 2.0 * m)
    curve = fit_flip_curve(m, flipped)
    assert curve.b0 == pytest.approx(1.0, abs=0.15)
    assert curve.b1 == pytest.approx(-2.0, abs=0.15)
    assert (curve.n, curve.n_flips) == (m.size, int(flipped.sum()))


def test_fit_flip_curve_is_the_mle() -> None:
    # At the (nearly unpenalised) optimum the score equations hold: sum(f - p) = 0 and
    # sum((f - p) m) = 0, i.e. predicted flips match observed flips overall and in margin.
    rng = np.random.default_rng(1)
    m = rng.uniform(0, 4, 3000)
    f = (rng.random(m.size) < expit(0.5 - 1.5 * m)).astype(float)
    curve = fit_flip_curve(m, f)
    p = expit(curve.b0 + curve.b1 * m)
    assert abs(np.sum(f - p)) < 0.05
    assert abs(np.sum((f - p) * m)) < 0.05


def test_fit_flip_curve_separable_and_flipless_data_converge() -> None:
    m = np.linspace(0.1, 5, 200)
    none = fit_flip_curve(m, np.zeros_like(m))
    assert math.isfinite(none.b0) and none(0.1) < 1e-3
    separable = fit_flip_curve(m, m < 1.0)
    assert separable(0.2) > 0.4 and separable(3.0) < 0.01
    assert separable(100.0) >= 1e-6 and separable(-100.0) == 0.5  # clipped


def test_flip_curve_call_shapes_and_round_trip() -> None:
    curve = FlipCurve(b0=0.3, b1=-1.7, heterogeneity=0.25, n=100, n_flips=7)
    assert isinstance(curve(1.0), float)
    assert curve(np.zeros((2, 3))).shape == (2, 3)
    back = FlipCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    assert back == curve
    with pytest.raises(CalibrationError):
        FlipCurve.from_dict({"b0": 1.0})
    with pytest.raises(ValueError):
        FlipCurve(b0=0.0, b1=0.0, heterogeneity=-0.5)


def test_self_calibration_leaves_the_attacked_class_out() -> None:
    y, bp, cp, bl, _ = pair(0, attack=(3, 7, 0.5, 8.0))
    curves = self_calibrated_curves(y, bp, cp, bl)
    right = bp == y
    pooled = fit_flip_curve(margins(bl, y)[right], (cp != y)[right])
    # the attacked class's own null does not see its own flips, so it stays low ...
    assert curves[3](3.0) < 0.5 * pooled(3.0)
    assert curves[3].n_flips < pooled.n_flips - 40
    # ... and a class that leaves too little data falls back to the pooled fit
    tiny = self_calibrated_curves(y, bp, cp, bl, min_canaries=10_000)
    assert all(c == pooled for c in tiny)
