"""The churn null and the tests built on it: hand cases, then false alarms and detection on a
tiny synthetic world (numpy only, fixed seeds) where clean retrains jitter every logit and an
attack boosts one class's logit on some canaries of another."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.special import expit

from modelgate.analysis.calibration import Calibration, calibrate
from modelgate.analysis.churn import (
    FlipCurve,
    attraction_test,
    centre_rows,
    destination_test,
    expected_matrix,
    fit_flip_curve,
    margin_collapse,
    regression_matrix,
    self_calibrated_curves,
    shift_statistics,
)
from modelgate.analysis.stats import margins
from modelgate.errors import CalibrationError

ALPHA = 0.05
SEEDS = range(20)

# --- a tiny synthetic world ------------------------------------------------------------------


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


# --- the flip curve --------------------------------------------------------------------------


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
    curve = FlipCurve(b0=0.3, b1=-1.7, overdispersion=1.25, n=100, n_flips=7)
    assert isinstance(curve(1.0), float)
    assert curve(np.zeros((2, 3))).shape == (2, 3)
    back = FlipCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    assert back == curve
    with pytest.raises(CalibrationError):
        FlipCurve.from_dict({"b0": 1.0})
    with pytest.raises(ValueError):
        FlipCurve(b0=0.0, b1=0.0, overdispersion=0.5)


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


# --- hand-computed matrices and p-values -----------------------------------------------------


def test_expected_matrix_hand_case() -> None:
    # flat curve p = 0.2; canary 0 (class 0): baseline (0.7, 0.2, 0.1) -> q = (0, 2/3, 1/3);
    # canary 1 (class 1): (0.1, 0.6, 0.3) -> q = (1/4, 0, 3/4).
    logp = np.log([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    flat = FlipCurve(b0=math.log(0.2 / 0.8), b1=0.0)
    e = expected_matrix(np.array([0, 1]), np.array([0, 1]), logp, flat)
    want = [[0, 0.2 * 2 / 3, 0.2 / 3], [0.2 / 4, 0, 0.2 * 3 / 4], [0, 0, 0]]
    np.testing.assert_allclose(e, want, atol=1e-12)


def test_destination_hand_case() -> None:
    # Two classes, ten canaries of class 0 all right at baseline, flat flip probability 0.1:
    # E[0,1] = 10 * 0.1 = 1. Four now say 1: P(X >= 4 | Poisson(1)) = 1 - (8/3) e^-1; Holm
    # over the 2 cells doubles it. The curve is "known exactly" (huge n_flips), so Poisson.
    y = np.zeros(10, dtype=int)
    logp = np.log(np.tile([0.9, 0.1], (10, 1)))
    cand = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    curve = FlipCurve(b0=math.log(0.1 / 0.9), b1=0.0, n_flips=10**12)
    (cell,) = destination_test(y, y, cand, logp, curve, 0.05, classes=["cat", "dog"])
    p = 1 - 8 / 3 * math.exp(-1)
    assert (cell.true_class, cell.new_class, cell.observed) == (0, 1, 4.0)
    assert cell.expected == pytest.approx(1.0)
    assert cell.p_value == pytest.approx(p, rel=1e-9)
    assert cell.p_adjusted == pytest.approx(2 * p, rel=1e-9)
    assert cell.significant
    assert cell.indices == (0, 1, 2, 3)
    assert "'cat'" in cell.message and "'dog'" in cell.message and "predicts 1" in cell.message
    # overdispersion widens the test: NB with variance / mean 3 at mean 1, i.e. size 1/2
    wide = FlipCurve(b0=curve.b0, b1=0.0, overdispersion=3.0, n_flips=10**12)
    (cell,) = destination_test(y, y, cand, logp, wide, 0.05)
    assert cell.p_value == pytest.approx(sps.nbinom.sf(3, 0.5, 0.5 / 1.5), rel=1e-6)


def test_regression_matrix_counts_only_baseline_right_canaries() -> None:
    y = np.array([0, 0, 1, 1, 2])
    base = np.array([0, 1, 1, 1, 2])  # canary 1 was already wrong
    cand = np.array([2, 2, 0, 1, 2])
    np.testing.assert_array_equal(
        regression_matrix(y, base, cand, 3), [[0, 0, 1], [1, 0, 0], [0, 0, 0]]
    )


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


# --- invariants ------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(2, 6), st.integers(5, 60))
def test_identical_predictions_are_never_a_finding(seed: int, k: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    logp = log_softmax(rng.normal(0, 2, (n, k)))
    y = rng.integers(0, k, n)
    pred = logp.argmax(axis=1)
    curves = self_calibrated_curves(y, pred, pred, logp)
    assert destination_test(y, pred, pred, logp, curves, ALPHA) == []
    assert not any(r.significant for r in attraction_test(y, pred, pred, logp, logp, curves, 0.05))
    m = margins(logp, y)
    assert margin_collapse(m, m, rng.random(n) < 0.3, ALPHA) == []


def test_permuting_canaries_changes_nothing() -> None:
    y, bp, cp, bl, cl = pair(3, attack=(2, 5, 0.2, 6.0))
    perm = np.random.default_rng(7).permutation(y.size)
    inv = np.argsort(perm)

    def summary(y, bp, cp, bl, cl, index=lambda i: i):
        curves = self_calibrated_curves(y, bp, cp, bl)
        cells = destination_test(y, bp, cp, bl, curves, ALPHA)
        cells += attraction_test(y, bp, cp, bl, cl, curves, ALPHA)
        return [
            (c.test, c.true_class, c.new_class, round(c.observed, 9), round(c.p_value, 9),
             sorted(index(i) for i in c.indices))
            for c in cells
        ]  # fmt: skip

    want = summary(y, bp, cp, bl, cl)
    got = summary(y[perm], bp[perm], cp[perm], bl[perm], cl[perm], index=lambda i: perm[i])
    assert got == want
    assert inv.size == y.size


# --- false alarms and detection on the synthetic world ---------------------------------------


def test_clean_churn_rarely_raises_any_test() -> None:
    flips, alarms = [], {"destination": 0, "attraction_count": 0, "attraction_shift": 0}
    for seed in SEEDS:
        y, bp, cp, bl, cl = pair(seed)
        flips.append(np.mean((bp == y) & (cp != y)))
        for test, cells in run_tests(y, bp, cp, bl, cl).items():
            alarms[test] += bool(cells)
    assert 0.02 < np.mean(flips) < 0.06  # clean retrains really do churn a few percent
    assert all(n <= 1 for n in alarms.values()), alarms


def test_targeted_flip_attack_is_found_in_its_cell() -> None:
    # 20% of class-3 canaries pushed hard toward 7: many confident regressions in one cell.
    found = [run_tests(*pair(seed, attack=(3, 7, 0.2, 6.0))) for seed in SEEDS]
    assert all((3, 7) in f["destination"] for f in found)
    assert sum((None, 7) in f["attraction_count"] for f in found) >= 18
    assert all(f["destination"] <= {(3, 7)} for f in found)  # no other cell is blamed


def test_diffuse_label_flip_is_found_by_the_shift_view_alone() -> None:
    # every class-3 canary nudged by 0.5 nats toward 7: under one canary crosses on average,
    # invisible to counts, yet the (3, 7) cell moves apart from all others.
    found = [run_tests(*pair(seed, attack=(3, 7, 1.0, 0.5))) for seed in SEEDS]
    assert sum((3, 7) in f["attraction_shift"] for f in found) >= 19
    assert sum(bool(f["destination"]) for f in found) <= 1


def test_attraction_shift_result_lists_the_moved_canaries() -> None:
    y, bp, cp, bl, cl = pair(0, attack=(3, 7, 0.2, 6.0))
    names = [f"c{k}" for k in range(10)]
    curves = self_calibrated_curves(y, bp, cp, bl)
    (shift,) = [
        r
        for r in attraction_test(y, bp, cp, bl, cl, curves, ALPHA, classes=names)
        if r.test == "attraction_shift"
    ]
    assert (shift.true_class, shift.new_class) == (3, 7)
    assert len(shift.indices) == 20 and all(y[i] == 3 for i in shift.indices)
    assert "'c3'" in shift.message and "'c7'" in shift.message


def test_margin_collapse_finds_the_clean_label_victim_only() -> None:
    found, false_alarms = 0, 0
    for seed in SEEDS:
        y, logits = world(seed)
        rng = np.random.default_rng(seed + 1)
        protected = np.zeros(y.size, dtype=bool)
        protected[rng.choice(y.size, 12, replace=False)] = True
        bl = log_softmax(logits)
        base_m = margins(bl, y)
        victim = int(np.flatnonzero(protected & (base_m > 3))[0])
        _, clean = retrain(y, logits, seed)
        poisoned = clean.copy()
        poisoned[victim, y[victim]] -= 3.0  # still right, but barely
        for logp, is_attack in ((clean, False), (log_softmax(poisoned), True)):
            results = margin_collapse(base_m, margins(logp, y), protected, ALPHA)
            hits = {r.index for r in results if r.significant}
            if is_attack:
                found += victim in hits
            else:
                false_alarms += bool(hits)
    assert found == len(SEEDS)
    assert false_alarms <= 2  # Holm at 0.05 over 12 protected canaries: ~1 in 20 expected


def test_margin_collapse_reports_a_flipped_protected_canary() -> None:
    base_m = np.linspace(0.5, 5, 100)
    cand_m = base_m + 0.01 * np.sin(np.arange(100))
    cand_m[50] = -0.2  # protected and now wrong
    protected = np.zeros(100, dtype=bool)
    protected[[10, 50]] = True
    (res,) = margin_collapse(base_m, cand_m, protected, ALPHA, ids=[f"id{i}" for i in range(100)])
    assert (res.index, res.flipped, res.significant) == (50, True, True)
    assert res.cand_margin == pytest.approx(-0.2) and "'id50'" in res.message


# --- calibration from control retrains -------------------------------------------------------


def controls(y: np.ndarray, logits: np.ndarray, seed: int, n: int = 3) -> list:
    return [retrain(y, logits, seed + 100 * j) for j in range(1, n + 1)]


def test_calibrated_null_keeps_false_alarms_low_and_finds_attacks() -> None:
    alarms, found = 0, 0
    for seed in SEEDS:
        y, logits = world(seed)
        bl = log_softmax(logits)
        bp = bl.argmax(axis=1)
        cal = calibrate(y, bp, bl, controls(y, logits, seed))
        assert cal.overdispersion >= 1.0 and cal.n_controls == 3
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
    one = calibrate(y, bl.argmax(axis=1), bl, controls(y, logits, 5, n=1))
    # one control says little about spread: heavy (few degrees of freedom) tails, not normal ones
    assert Calibration.from_dict(json.loads(json.dumps(one.to_dict()))).shift_null.df <= 5


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="something-else"),
        lambda d: d.update(version=99),
        lambda d: d.pop("curves"),
        lambda d: d["shift_null"]["sd"].pop(),
        lambda d: d["shift_null"]["sd"][0].__setitem__(1, -1.0),
        lambda d: d["curves"][0].update(overdispersion=0.2),
    ],
)
def test_calibration_from_dict_rejects_malformed_records(mutate) -> None:
    y, logits = world(5, k=4, per_class=60)
    bl = log_softmax(logits)
    data = calibrate(y, bl.argmax(axis=1), bl, controls(y, logits, 5, n=2)).to_dict()
    mutate(data)
    with pytest.raises(CalibrationError):
        Calibration.from_dict(data)
