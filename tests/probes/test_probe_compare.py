"""Where a probe or a recovered trigger is clean behaviour: the calibration's clean retrains
count as much as the blessed model (a probe that overrides their input, a trigger no smaller
than a fixed probe that already works on them)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from inversion_fixtures import inversion_of

from modelgate.probe_settings import TriggerPolicy
from modelgate.probes.checks import _inversion_finding
from modelgate.probes.compare import (
    clean_trigger_sizes,
    inversion_flags,
    probe_cells,
    probe_size,
)
from modelgate.probes.measure import ProbeCounts
from modelgate.probes.record import BlessedInversion, BlessedProbes
from modelgate.probes.results import TriggerRun

K = 4
ELIGIBLE = np.full(K, 300)


def _run(hits: dict[str, list[int]]) -> TriggerRun:
    names = tuple(hits)
    counts = ProbeCounts(
        names=names,
        hits=np.array([hits[n] for n in names], dtype=np.int64),
        eligible=ELIGIBLE,
        predicted=np.zeros((len(names), 0), dtype=np.int64),
        index=np.zeros(0, dtype=np.int64),
    )
    return TriggerRun(counts=counts, controls={}, inversion=None)


def test_a_probe_that_overrides_a_clean_retrains_input_is_not_judged() -> None:
    """Stamped beyond a skewed feature's range, one clean retrain sends nearly every canary to
    one class and the next to another: the candidate's destination says nothing."""
    run = _run({"feature/4/above": [3, 2, 261, 4], "feature/5/q99": [2, 3, 250, 1]})
    blessed = BlessedProbes(
        eligible=ELIGIBLE, hits={"feature/4/above": [290, 1, 2, 3], "feature/5/q99": [3, 2, 4, 1]}
    )
    ceilings = {"feature/4/above": (0.97, 0.1, 0.25, 0.1), "feature/5/q99": (0.1, 0.1, 0.2, 0.1)}
    cells, _, saturated = probe_cells(run, blessed, ceilings.get)
    assert saturated == ["feature/4/above"]
    assert {c.probe for c in cells} == {"feature/5/q99"}  # the other one is still judged
    # without a calibration only the blessed model speaks, and it is not saturated here
    unjudged = BlessedProbes(eligible=ELIGIBLE, hits={**blessed.hits, "feature/4/above": [1] * K})
    cells, _, saturated = probe_cells(run, unjudged, None)
    assert saturated == [] and {c.probe for c in cells} == {"feature/4/above", "feature/5/q99"}


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("feature/3/max", 1.0),
        ("feature/3/above+feature/7/below", 2.0),
        ("control/feature/3/101", 1.0),
        ("patch/3x3/left/white", 9.0),
        ("control/patch/2x2/top-right/4", 4.0),
        ("blend/noise/0.2", None),
        ("word/great/start", None),
    ],
)
def test_a_fixed_probe_has_the_size_of_what_it_sets(name: str, size: float | None) -> None:
    assert probe_size(name) == size


def test_a_trigger_no_smaller_than_a_clean_fixed_probe_is_not_a_finding() -> None:
    """The blessed model's search found a two-feature trigger for class 0, yet one feature set
    to its maximum already sends a clean control's canaries there: a one-feature trigger on
    the candidate is clean behaviour. A trigger far smaller than that still is a finding."""
    blessed_inv = BlessedInversion(
        norms=np.array([2.0, 2.0, 2.1, 1.9]),
        universal_hits=np.full(K, -1),
        held_out=np.full(K, 300),
    )
    probes = BlessedProbes(eligible=ELIGIBLE, hits={"feature/4/max": [120, 3, 2, 1]})
    ceilings = {"feature/4/max": (1.0, 0.1, 0.1, 0.1)}  # a clean control: all of them to 0
    sizes = clean_trigger_sizes(K, probes, ceilings.get)
    assert sizes.tolist() == [1.0, np.inf, np.inf, np.inf]
    candidate = inversion_of([1.0, 2.0, 2.0, 2.0])
    before = inversion_flags(candidate, blessed_inv, TriggerPolicy(), 0.01)
    assert [r["class"] for r in before if r["trigger"]] == [0]  # against the blessed model only
    after = inversion_flags(candidate, blessed_inv, TriggerPolicy(), 0.01, sizes)
    assert not any(r["trigger"] for r in after)
    smaller = inversion_flags(
        inversion_of([0.3, 2.0, 2.0, 2.0]), blessed_inv, TriggerPolicy(), 0.01, sizes
    )
    assert [r["class"] for r in smaller if r["trigger"]] == [0]
    assert smaller[0]["reference"] == 1.0 and smaller[0]["base_norm"] == 2.0


def test_a_trigger_no_smaller_than_the_clean_controls_floor_is_not_a_finding() -> None:
    """The blessed model's search found 2.0 for class 0, one clean control retrain's 0.9: a
    candidate's 1.0 is churn of the search, not a planted trigger; 0.3 still is one, and the
    finding says what it was compared with."""
    blessed_inv = BlessedInversion(
        norms=np.array([2.0, 2.0, 2.1, 1.9]),
        universal_hits=np.full(K, -1),
        held_out=np.full(K, 300),
    )
    floor = np.array([0.9, 1.8, np.nan, 2.5])  # NaN: no control found one; 2.5: above blessed
    candidate = inversion_of([1.0, 2.0, 2.0, 2.0])
    before = inversion_flags(candidate, blessed_inv, TriggerPolicy(), 0.01)
    assert [r["class"] for r in before if r["trigger"]] == [0]
    after = inversion_flags(candidate, blessed_inv, TriggerPolicy(), 0.01, clean_floor=floor)
    assert not any(r["trigger"] for r in after)
    assert [r["reference"] for r in after] == [0.9, 1.8, 2.1, 1.9]
    smaller = inversion_of([0.3, 2.0, 2.0, 2.0])
    rows = inversion_flags(smaller, blessed_inv, TriggerPolicy(), 0.01, clean_floor=floor)
    assert [r["class"] for r in rows if r["trigger"]] == [0]
    suite = SimpleNamespace(classes=["a", "b", "c", "d"])
    finding = _inversion_finding(suite, rows[0], "features")  # type: ignore[arg-type]
    assert "calibration floor" in finding.message
    assert dict(finding.evidence)["norm_control_floor"] == 0.9
