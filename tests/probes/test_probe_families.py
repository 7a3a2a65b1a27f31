"""Probes chosen per model are judged against the same choice on every clean control, and a
probe's own content never counts as a trigger for the class it is typical of."""

from __future__ import annotations

from dataclasses import replace
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from modelgate.probe_settings import TriggerPolicy
from modelgate.probes.ceiling import BOUND_BELOW
from modelgate.probes.compare import flagged, probe_cells
from modelgate.probes.measure import ProbeCounts
from modelgate.probes.probe import Probe, family_of, needs_clean_ceiling
from modelgate.probes.record import BlessedProbes
from modelgate.probes.results import TriggerRun
from modelgate.probes.run import highest_attraction
from modelgate.probes.tabular import pair_probes
from modelgate.probes.text import typical_classes


def _run(
    rows: dict[str, list[int]], explains: dict[str, tuple[int, ...]] | None = None
) -> TriggerRun:
    names = tuple(sorted(rows))
    hits = np.array([rows[n] for n in names], dtype=np.int64)
    counts = ProbeCounts(
        names=names,
        hits=hits,
        eligible=np.array([100, 100], dtype=np.int64),
        predicted=np.zeros((len(names), 1), dtype=np.int64),
        index=np.zeros(1, dtype=np.int64),
    )
    probes = tuple(
        Probe(n, n.partition("/")[0], lambda b: b, explains=(explains or {}).get(n, ()))
        for n in names
    )
    return TriggerRun(counts, {n: "" for n in names}, None, probes=probes)


def test_typical_classes_hand_case() -> None:
    # 40 canaries, half of each class; "cash" in ten of class 1 and none of class 0
    texts = [f"win cash {i}" for i in range(10)] + [f"prize {i}" for i in range(10)]
    texts += [f"hello friend {i}" for i in range(20)]
    labels = [1] * 20 + [0] * 20
    assert typical_classes("cash", texts, labels) == (1,)  # binomial tail 0.5^10 < 1e-3
    assert typical_classes("friend win", texts, labels) == (0, 1)  # each word its own class
    # three of its four canaries in one class: a small sample, not a typical word
    few = ["cash a", "cash b", "cash c", "cash d", "x", "y", "z", "w"]
    assert typical_classes("cash", few, [1, 1, 1, 0, 0, 0, 1, 0]) == ()
    assert typical_classes("zebra", texts, labels) == ()  # in no canary
    # nine of nine is beyond chance only where the class is rare enough (here a tenth)
    rare_class = [f"cash {i}" for i in range(9)] + [f"other {i}" for i in range(81)]
    rare_labels = [1] * 9 + [0] * 81
    assert typical_classes("cash", rare_class, rare_labels) == (1,)


def test_family_of_names_only_the_adaptive_families() -> None:
    assert family_of("word/zorblax/start") == "word"
    assert family_of("pair/a b/start") == "pair"
    assert family_of("token/cf/start") is None and family_of("patch/2x2/x/white") is None


def test_highest_attraction_records_the_family_maximum_per_control() -> None:
    one = _run({"word/a/start": [0, 30], "word/b/start": [0, 10], "token/cf/start": [0, 5]})
    two = _run({"word/c/start": [0, 45], "token/cf/start": [0, 8]})
    with patch("modelgate.probes.run.BOUND_BELOW", 2):  # two are "many" here: the maximum
        ceiling = highest_attraction([one, two])
    np.testing.assert_allclose(ceiling["family/word"], [0.0, 0.45])
    np.testing.assert_allclose(ceiling["token/cf/start"], [0.0, 0.08])
    assert "family/pair" not in ceiling


def test_a_per_model_word_is_judged_against_the_family_ceiling() -> None:
    blessed = BlessedProbes(eligible=np.array([100, 100]), hits={"word/a/start": np.array([0, 0])})
    policy = TriggerPolicy()
    ceilings = {"family/word": (0.0, 0.45)}
    # 60% on the candidate: far beyond the blessed model, but within 0.35 of what the most
    # attractive word of some clean control reached (45%): not a trigger
    quiet = _run({"word/new/start": [0, 60]})
    cells, _, _ = probe_cells(quiet, blessed, ceilings.get)
    assert not flagged(cells, policy, 0.01)
    loud = _run({"word/new/start": [0, 95]})
    cells, _, _ = probe_cells(loud, blessed, ceilings.get)
    assert [c.target for c in flagged(cells, policy, 0.01)] == [1]
    # the same word, typical of class 1 in the clean canaries, is natural behaviour
    typical = _run({"word/new/start": [0, 95]}, {"word/new/start": (1,)})
    cells, _, _ = probe_cells(typical, blessed, ceilings.get)
    assert not flagged(cells, policy, 0.01)


@settings(max_examples=60, deadline=None)
@given(
    candidate=st.integers(0, 100),
    controls=st.lists(
        st.lists(st.integers(0, 100), min_size=3, max_size=3),
        min_size=BOUND_BELOW,
        max_size=BOUND_BELOW + 4,
    ),
    extra=st.lists(st.integers(0, 100), min_size=3, max_size=3),
)
def test_one_more_control_never_adds_a_probe_flag(
    candidate: int, controls: list[list[int]], extra: list[int]
) -> None:
    """From BOUND_BELOW controls on, the family ceiling is their maximum: a larger calibration
    only removes flags (below it, `probes.ceiling` bounds what BOUND_BELOW would show)."""
    blessed = BlessedProbes(eligible=np.array([100, 100]), hits={"word/a/start": np.array([0, 0])})
    run = _run({"word/new/start": [0, candidate]})

    def flags(rows: list[list[int]]) -> set[int]:
        runs = [_run({f"word/w{i}/start": [0, v] for i, v in enumerate(row)}) for row in rows]
        ceiling = {k: tuple(v) for k, v in highest_attraction(runs).items()}
        cells, _, _ = probe_cells(run, blessed, ceiling.get)
        return {c.target for c in flagged(cells, TriggerPolicy(), 0.01)}

    assert flags([*controls, extra]) <= flags(controls)


def test_a_probe_is_judged_against_its_own_ceiling_not_its_neighbours() -> None:
    """A feature pushed below the suite's range and the same feature at its maximum are opposite
    inputs: what clean retrains do at one says nothing about the other (pooled, the maximum's
    99% hid single-feature triggers below the range on 4 tabular controls)."""
    group = "control/feature/3"
    blessed = BlessedProbes(
        eligible=np.array([100, 100]),
        hits={"feature/3/below": np.array([0, 2]), "feature/3/max": np.array([0, 95])},
    )
    controls = [
        replace(
            _run({"feature/3/below": [0, low], "feature/3/max": [0, high]}),
            controls={"feature/3/below": group, "feature/3/max": group},
        )
        for low, high in ((1, 97), (4, 99), (2, 92), (6, 96))
    ]
    ceiling = {k: tuple(v) for k, v in highest_attraction(controls).items()}
    assert not any(key.startswith("group/") for key in ceiling)
    candidate = replace(
        controls[0], counts=replace(controls[0].counts, hits=np.array([[0, 90], [0, 96]]))
    )  # type: ignore[arg-type]
    cells, _, _ = probe_cells(candidate, blessed, ceiling.get)
    assert [(c.probe, c.target) for c in flagged(cells, TriggerPolicy(), 0.01)] == [
        ("feature/3/below", 1)
    ]


def test_beyond_range_pairs_are_judged_only_against_clean_controls() -> None:
    name = "feature/2/above+feature/5/below"
    assert needs_clean_ceiling(name)
    assert not needs_clean_ceiling("feature/2/max+feature/5/min")  # in range: always judged
    assert not needs_clean_ceiling("feature/2/above")  # one feature beyond: always judged
    blessed = BlessedProbes(eligible=np.array([100, 100]), hits={name: np.array([0, 5])})
    run = _run({name: [0, 95]})
    cells, _, _ = probe_cells(run, blessed)
    assert cells == []  # no calibration: nothing says what clean retrains do there
    cells, _, _ = probe_cells(run, blessed, {"other": (0.0, 0.1)}.get)
    assert cells == []  # a calibration that never measured the probe does not judge it either
    cells, _, _ = probe_cells(run, blessed, {name: (0.0, 0.4)}.get)
    assert [c.target for c in flagged(cells, TriggerPolicy(), 0.01)] == [1]
    cells, _, _ = probe_cells(run, blessed, {name: (0.0, 0.9)}.get)
    assert not flagged(cells, TriggerPolicy(), 0.01)  # clean retrains extrapolate there too


def test_tabular_pairs_in_range_and_beyond_each_have_their_own_control() -> None:
    inputs = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    probes = pair_probes([0, 1, 2], inputs)
    names = [p.name for p in probes]
    assert len(names) == len(set(names)) == 3 * (4 + 1 + 4 + 1)
    beyond = [p for p in probes if needs_clean_ceiling(p.name)]
    assert len(beyond) == 3 * 4 and {p.control for p in beyond} == {
        "control/feature/0+1/beyond", "control/feature/0+2/beyond", "control/feature/1+2/beyond"
    }  # fmt: skip
    stamped = next(p for p in beyond if p.name == "feature/0/above+feature/1/below").apply(inputs)
    assert (stamped[:, 0] > inputs[:, 0].max()).all() and (stamped[:, 1] < inputs[:, 1].min()).all()
    np.testing.assert_array_equal(stamped[:, 2], inputs[:, 2])


def test_the_family_ceiling_leaves_out_classes_a_probe_is_typical_of() -> None:
    # a control's pair of two topic words of class 1 sends 40% there: natural, and excused on
    # any candidate, so it must not raise the bar for a pair of words typical of nothing
    one = _run(
        {"pair/a b/start": [0, 40], "pair/c d/start": [0, 3]},
        explains={"pair/a b/start": (1,)},
    )
    ceiling = highest_attraction([one])
    np.testing.assert_allclose(ceiling["family/pair"], [0.0, 0.03])
    np.testing.assert_allclose(ceiling["pair/a b/start"], [0.0, 0.40])  # its own maximum stays
    blessed = BlessedProbes(
        eligible=np.array([100, 100]),
        hits={"word/x/start": np.array([0, 1]), "word/y/start": np.array([0, 1])},
    )
    loud = _run({"pair/x y/start": [0, 45]})
    cells, _, _ = probe_cells(loud, blessed, {k: tuple(v) for k, v in ceiling.items()}.get)
    assert flagged(cells, TriggerPolicy(), 0.01)  # 45% against a 3% ceiling, not 40%
