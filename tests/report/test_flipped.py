"""The columnar flips say exactly what the tuple of CanaryFlip said, in every report."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reference_flips import list_flips

from modelgate.analysis.flips import flip_table
from modelgate.flipped import FlippedCanaries
from modelgate.policy import budget_checks
from modelgate.report import json as json_report
from modelgate.report.markdown import rank_flips
from modelgate.suite.format import id_order

CLASSES = ("cat", 'd"og', "éel")
HOSTILE = ["a", "b\x00", 'q"uote', "back\\slash", "ünï", "tab\there", "line\nbreak", "z" * 70]


def _columns(ids: list[str], seed: int) -> tuple:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    n = len(ids)
    truth = rng.integers(0, 3, n)
    base = np.where(rng.random(n) < 0.6, truth, rng.integers(0, 3, n))
    cand = np.where(rng.random(n) < 0.5, base, rng.integers(0, 3, n))
    margins = (rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32))
    kinds = [("protected",), ("a", "b"), ()]
    tags = tuple(kinds[i % 3] for i in range(n))
    table = flip_table(truth, base, cand)
    flipped = np.flatnonzero(table.any)
    waivers = {int(i): f"reason {i} (me)" for i in flipped[::4]}
    return truth, base, cand, margins, tags, table, waivers


def _both(ids: list[str], seed: int):  # type: ignore[no-untyped-def]
    truth, base, cand, margins, tags, table, waivers = _columns(ids, seed)
    old = list_flips(ids, truth, base, cand, *margins, table, CLASSES, tags, waivers)
    new = FlippedCanaries.from_masks(
        ids=ids, tags=tags, classes=CLASSES, order=id_order(ids), truth=truth, baseline=base,
        candidate=cand, negative=table.negative, positive=table.positive, margins=margins,
        waivers=waivers,
    )  # fmt: skip
    return old, new


@settings(max_examples=40, deadline=None)
@example(ids=["a", "\n"], seed=32)  # a trailing newline once passed for plain JSON text
@given(
    st.lists(st.sampled_from(HOSTILE) | st.text(max_size=8), min_size=1, max_size=60, unique=True),
    st.integers(0, 1000),
)
def test_columns_equal_the_tuple_of_flips_everywhere(ids: list[str], seed: int) -> None:
    old, new = _both(ids, seed)
    assert new == old and len(new) == len(old) and tuple(new) == old
    if old:
        assert new[0] == old[0] and new[-1] == old[-1] and new[1:3] == old[1:3]
    assert rank_flips(new) == rank_flips(old) and rank_flips(new, 5) == rank_flips(old)[:5]
    assert tuple(new.tagged("a")) == tuple(f for f in old if "a" in f.tags)
    assert new.lookup({ids[0]}) == {f.id: f for f in old if f.id == ids[0]}
    assert list(json_report.flip_rows(new)) == list(json_report.flip_rows(old))
    policy_checks = [(c.name, c.status) for c in budget_checks(old, _policy())]
    assert [(c.name, c.status) for c in budget_checks(new, _policy())] == policy_checks


def _policy():  # type: ignore[no-untyped-def]
    from modelgate.config import Policy

    return Policy.model_validate({"tags": {"a": {"max_flips": 1, "max_negative_flips": 0}}})


def test_the_json_report_is_byte_identical_with_either(failing_result) -> None:  # type: ignore[no-untyped-def]
    ids = [f"canary-{i:03d}" for i in range(200)] + HOSTILE
    old, new = _both(ids, 7)
    assert len(old) > 50
    text_old = json_report.render(dataclasses.replace(failing_result, flips=old))
    text_new = json_report.render(dataclasses.replace(failing_result, flips=new))
    assert text_old == text_new
    empty = json_report.render(dataclasses.replace(failing_result, flips=()))
    assert '\n  "flips": [],\n' in empty


def test_id_order_is_pythons_string_order() -> None:
    ids = ["b", "a", "ä", "a\x00", "A", "", "aa"]
    assert [ids[i] for i in id_order(ids)] == sorted(ids)
    short = ["k3", "k10", "k2", "K1"]
    assert [short[i] for i in id_order(short)] == sorted(short)
    # the two C paths: ASCII ids sorted as bytes, others as fixed-width unicode
    for case in (["b-2", "b-10", "a~", "a "], ["é", "e", "z", "ÿ", "Ā"]):
        assert [case[i] for i in id_order(case)] == sorted(case)


def test_a_large_report_streams_in_parts_and_parses(failing_result, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    monkeypatch.setattr(json_report, "_PART", 7)
    ids = [f"canary-{i:03d}" for i in range(300)]
    _, new = _both(ids, 3)
    result = dataclasses.replace(failing_result, flips=new)
    parts = list(json_report.render_parts(result))
    assert len(parts) > len(new) // 7
    data = json.loads("".join(parts))
    assert [f["id"] for f in data["flips"]] == [f.id for f in new]
    assert data["summary"]["flips"] == len(new)
