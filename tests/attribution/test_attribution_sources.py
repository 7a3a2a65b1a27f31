"""The per-source statistic: exact under clean data (no source flagged beyond alpha), blind to a
source's label mix, and sensitive to a source that carries the mass."""

from __future__ import annotations

import numpy as np

from modelgate.attribution.sources import holm, source_tests

SOURCES = [f"s{i}" for i in range(8)]
SIZES = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])


def _draw(rng: np.random.Generator, n: int = 300) -> tuple[np.ndarray, list[str], np.ndarray]:
    labels = rng.integers(0, 4, size=n)
    shares = rng.lognormal(0, 2.0, size=n) * (labels == 1)  # heavy tails, one class only
    sources = list(rng.choice(SOURCES, size=n, p=SIZES))
    return shares, sources, labels


def test_clean_data_flags_no_source_beyond_alpha() -> None:
    rng = np.random.default_rng(0)
    alpha, runs, flagged, small = 0.05, 200, 0, 0
    for _ in range(runs):
        shares, sources, labels = _draw(rng)
        tests = source_tests(shares, sources, labels, permutations=199)
        p = [t.p_value for t in tests]
        small += sum(x <= alpha for x in p)
        flagged += any(x <= alpha for x in holm(p))
    assert flagged / runs <= alpha + 0.03  # family-wise, with binomial slack
    assert small / (runs * len(SOURCES)) <= alpha + 0.02  # each test is exact


def test_a_source_of_one_label_is_not_blamed_for_that_label() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=400)
    sources = [("ones" if y == 1 and rng.random() < 0.8 else str(rng.choice(SOURCES)))
               for y in labels]  # fmt: skip
    shares = np.where(labels == 1, 1.0, 0.0) + rng.uniform(0, 0.01, size=400)
    ones = next(t for t in source_tests(shares, sources, labels, 999) if t.source == "ones")
    assert ones.mass_share > 0.7 and ones.p_value > 0.05


def test_a_source_carrying_the_mass_is_flagged() -> None:
    rng = np.random.default_rng(2)
    shares, sources, labels = _draw(rng)
    poison = np.flatnonzero(labels == 1)[:12]
    for i in poison:
        sources[i], shares[i] = "mallory", 50.0
    tests = source_tests(shares, sources, labels, 999)
    assert tests[0].source == "mallory" and tests[0].p_value <= 0.002
    assert abs(sum(t.mass_share for t in tests) - 1.0) < 1e-9
    assert abs(sum(t.row_share for t in tests) - 1.0) < 1e-9


def test_the_test_is_deterministic() -> None:
    shares, sources, labels = _draw(np.random.default_rng(3))
    assert source_tests(shares, sources, labels, 499) == source_tests(shares, sources, labels, 499)


def test_holm() -> None:
    assert holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []
