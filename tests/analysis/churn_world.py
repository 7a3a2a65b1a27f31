"""A tiny synthetic world for the churn tests (numpy only, fixed seeds): clean retrains jitter
every logit, an attack boosts one class's logit on some canaries of another."""

from __future__ import annotations

import numpy as np

from modelgate.analysis.calibration import Calibration
from modelgate.analysis.churn import attraction_test, destination_test
from modelgate.analysis.flipcurve import self_calibrated_curves

ALPHA = 0.05
SEEDS = range(20)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def world(seed: int, k: int = 10, per_class: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Labels and baseline logits; class a is most often confused with a + 1 (a runner-up)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), per_class)
    confusable = np.zeros((k, k))
    confusable[np.arange(k), (np.arange(k) + 1) % k] = 1.5
    logits = rng.normal(0.0, 1.0, (y.size, k)) + confusable[y]
    logits[np.arange(y.size), y] += rng.normal(4.0, 1.2, y.size)
    return y, logits


def retrain(
    y: np.ndarray,
    logits: np.ndarray,
    seed: int,
    attack: tuple[int, int, float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A clean retrain: a random confidence change (+-10%) and gaussian noise on every logit.

    attack = (a, b, fraction, boost) adds `boost` to class b's logit for that fraction of the
    canaries of class a.
    """
    rng = np.random.default_rng(seed + 10_000)
    cand = logits * (1 + rng.uniform(-0.1, 0.1)) + rng.normal(0.0, 0.4, logits.shape)
    if attack is not None:
        a, b, fraction, boost = attack
        pool = np.flatnonzero(y == a)
        hit = rng.choice(pool, round(fraction * pool.size), replace=False)
        cand[hit, b] += boost
    logp = log_softmax(cand)
    return logp.argmax(axis=1), logp


def pair(seed: int, attack: tuple[int, int, float, float] | None = None, **kw: int) -> tuple:
    y, logits = world(seed, **kw)
    base_logp = log_softmax(logits)
    cand_pred, cand_logp = retrain(y, logits, seed, attack)
    return y, base_logp.argmax(axis=1), cand_pred, base_logp, cand_logp


def run_tests(y, bp, cp, bl, cl, calibration: Calibration | None = None) -> dict[str, set]:
    """Significant cells per test, as {test: {(a, b), ...}} with a = None for a class result."""
    if calibration is None:
        curves, null = self_calibrated_curves(y, bp, cp, bl), None
    else:
        curves, null = calibration.curves, calibration.shift_null
    found: dict[str, set] = {"destination": set(), "attraction_count": set()}
    found["attraction_shift"] = set()
    results = destination_test(y, bp, cp, bl, curves, ALPHA)
    results += attraction_test(y, bp, cp, bl, cl, curves, ALPHA, shift_null=null)
    for r in results:
        if r.significant:
            found[r.test].add((r.true_class, r.new_class))
    return found


def controls(y: np.ndarray, logits: np.ndarray, seed: int, n: int = 3) -> list:
    return [retrain(y, logits, seed + 100 * j) for j in range(1, n + 1)]
