"""The null model of natural churn: how likely a clean retrain flips a canary, given its margin.

A clean retrain flips low-margin canaries and almost never confident ones, so the flip
probability is a logistic curve in the baseline margin. Poisoning flips confident canaries,
which is what makes it stand out against this curve.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.special import expit

from modelgate.analysis.stats import margins as _margins
from modelgate.errors import CalibrationError

P_MIN, P_MAX = 1e-6, 0.5
_RIDGE = 1e-3  # on standardised coefficients: only matters when the data are separable
_MIN_CANARIES = 50  # fewer baseline-right canaries than this left over -> pooled fit


def round_float(x: float) -> float:
    """8 significant digits: stable across platforms, so saved records diff cleanly."""
    return float(f"{float(x):.8g}")


@dataclass(frozen=True)
class FlipCurve:
    """p(m) = sigmoid(b0 + b1 * m), clipped to [1e-6, 0.5]: flip probability at baseline margin m.

    `heterogeneity` h >= 0 widens the count tests built on it when control retrains showed
    clean churn to vary between retrains: a cell expecting e counts has variance e + h e^2
    (a retrain-to-retrain rate multiplier; a gamma-Poisson, NB2). Unlike a variance / mean
    ratio, it leaves near-empty cells near Poisson, so many confident flips into a cell that
    clean churn almost never reaches stay as surprising as the null says.
    """

    b0: float
    b1: float
    heterogeneity: float = 0.0
    n: int = 0  # baseline-right canaries it was fitted on
    n_flips: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.b0) and math.isfinite(self.b1)):
            raise ValueError(f"curve coefficients must be finite, got {self.b0}, {self.b1}")
        if not (math.isfinite(self.heterogeneity) and self.heterogeneity >= 0.0):
            raise ValueError(f"heterogeneity must be >= 0, got {self.heterogeneity}")

    def __call__(self, m: Any) -> Any:
        """Flip probability at margin(s) m: a float for a scalar, else an array of m's shape."""
        p = np.clip(expit(self.b0 + self.b1 * np.asarray(m, dtype=float)), P_MIN, P_MAX)
        return float(p) if p.ndim == 0 else p

    def nb_size(self) -> float:
        """The negative-binomial size of a cell count from this curve: 1 / (h + 1/n_flips).

        Heterogeneity between retrains plus the curve's own error: fitted on n_flips flips,
        its level is off by a relative ~1/sqrt(n_flips), which adds e^2 / n_flips.
        """
        return 1.0 / (self.heterogeneity + 1.0 / max(self.n_flips, 1))

    def with_heterogeneity(self, heterogeneity: float) -> FlipCurve:
        return replace(self, heterogeneity=max(0.0, float(heterogeneity)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "b0": round_float(self.b0),
            "b1": round_float(self.b1),
            "n": int(self.n),
            "n_flips": int(self.n_flips),
            "heterogeneity": round_float(self.heterogeneity),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FlipCurve:
        try:
            return cls(
                b0=float(data["b0"]),
                b1=float(data["b1"]),
                heterogeneity=float(data.get("heterogeneity", 0.0)),
                n=int(data.get("n", 0)),
                n_flips=int(data.get("n_flips", 0)),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CalibrationError(
                f"malformed flip curve: {exc}", key="curves", hint="re-run `modelgate calibrate`"
            ) from exc


def fit_flip_curve(margins: np.ndarray, flipped: np.ndarray, ridge: float = _RIDGE) -> FlipCurve:
    """Maximum-likelihood logistic fit of flipped ~ margin by Newton's method (IRLS).

    Margins are standardised first and a tiny ridge added, so data with no flips at all (or
    perfectly separated flips) still converge to a finite, very small flip probability.
    """
    m = np.asarray(margins, dtype=float).reshape(-1)
    f = np.asarray(flipped, dtype=float).reshape(-1)
    if m.size == 0 or m.shape != f.shape:
        raise ValueError(f"need equal, non-empty margins and flips, got {m.shape}, {f.shape}")
    mu, sd = float(m.mean()), float(m.std())
    sd = sd if sd > 1e-9 else 1.0
    x = np.column_stack([np.ones_like(m), (m - mu) / sd])
    rate = min(max(f.mean(), 0.5 / m.size), 1 - 0.5 / m.size)
    beta = np.array([math.log(rate / (1 - rate)), 0.0])

    def penalised_loglik(b: np.ndarray) -> float:
        eta = x @ b
        return float(np.sum(f * eta - np.logaddexp(0.0, eta)) - 0.5 * ridge * b @ b)

    current = penalised_loglik(beta)
    for _ in range(100):
        p = expit(x @ beta)
        grad = x.T @ (f - p) - ridge * beta
        hess = (x.T * (p * (1 - p))) @ x + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6:  # step halving: Newton on a concave objective, kept monotone
            trial = penalised_loglik(beta + scale * step)
            if trial >= current - 1e-12:
                break
            scale /= 2
        beta, current = beta + scale * step, penalised_loglik(beta + scale * step)
        if np.max(np.abs(scale * step)) < 1e-9:
            break
    b1 = beta[1] / sd
    return FlipCurve(b0=float(beta[0] - b1 * mu), b1=float(b1), n=int(m.size), n_flips=int(f.sum()))


def constant_curve(p: float = P_MAX) -> FlipCurve:
    """A flat curve; with nothing to fit, assume the worst churn (0.5) so nothing is flagged."""
    p = min(max(p, P_MIN), P_MAX)
    return FlipCurve(b0=math.log(p / (1 - p)), b1=0.0)


def self_calibrated_curves(
    y: np.ndarray,
    base_pred: np.ndarray,
    cand_pred: np.ndarray,
    base_logp: np.ndarray,
    min_canaries: int = _MIN_CANARIES,
) -> list[FlipCurve]:
    """One curve per class, fitted on the current pair with that class left out.

    The curve for true class a only sees baseline-right canaries of the other classes, so an
    attack on class a cannot inflate its own null; a class whose removal leaves fewer than
    `min_canaries` canaries gets the pooled fit instead.
    """
    y = np.asarray(y, dtype=int)
    n_classes = np.asarray(base_logp).shape[1]
    m = _margins(base_logp, y)
    right = np.asarray(base_pred) == y
    flipped = np.asarray(cand_pred) != y
    if not right.any():
        return [constant_curve()] * n_classes
    pooled = fit_flip_curve(m[right], flipped[right])
    curves = []
    for a in range(n_classes):
        keep = right & (y != a)
        if keep.sum() < min_canaries or keep.sum() == right.sum():
            curves.append(pooled)
        else:
            curves.append(fit_flip_curve(m[keep], flipped[keep]))
    return curves


def per_class(curves: FlipCurve | Sequence[FlipCurve], n_classes: int) -> list[FlipCurve]:
    """Accept one curve for all classes or one per class."""
    if isinstance(curves, FlipCurve):
        return [curves] * n_classes
    curves = list(curves)
    if len(curves) != n_classes:
        raise ValueError(f"need {n_classes} flip curves (one per class), got {len(curves)}")
    return curves
