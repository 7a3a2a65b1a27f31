"""The baseline record of a large suite: short canary lines plus a digested binary sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from projects import Project

from modelgate import baseline as record
from modelgate.baseline import read_baseline, sidecar_path
from modelgate.config import load_config
from modelgate.engine.bless import bless
from modelgate.engine.check import run_gate
from modelgate.errors import BaselineError
from modelgate.suite.format import load_suite


@pytest.fixture
def large(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The project re-blessed as if its suite were larger than INLINE_MAX."""
    inline = read_baseline(project.root / "baseline.json", load_suite(project.root / "suite"))
    monkeypatch.setattr(record, "INLINE_MAX", 10)
    bless(load_config(project.config), force=True, reason="large")
    project.inline = inline  # type: ignore[attr-defined]
    return project


def test_a_large_record_reads_back_the_predictions_and_checks_pass(large: Project) -> None:
    path = large.root / "baseline.json"
    text = path.read_text()
    data = json.loads(text)  # still one JSON document
    assert data["format_version"] == 2 and '"logp"' not in text
    assert data["canaries"][0] == ["blobs-000", "cat", "cat", data["canaries"][0][3]]
    entry = data["header"]["log_probs"]
    assert entry["file"] == "baseline.logp.npy" and sidecar_path(path).is_file()
    suite = load_suite(large.root / "suite")
    again = read_baseline(path, suite)
    inline = large.inline  # type: ignore[attr-defined]
    np.testing.assert_array_equal(again.predictions.labels, inline.predictions.labels)
    np.testing.assert_allclose(again.predictions.log_probs, inline.predictions.log_probs, atol=1e-4)
    assert run_gate(load_config(large.config)).exit_code == 0


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda p: _edit(p, '["blobs-004", "dog", "dog"', '["blobs-004", "dog", "eel"'),
         "canaries.4", "blobs-004"),
        (lambda p: _edit(p, '"blobs-004"', '"blobs-404"'), "canaries.4", "blobs-004"),
        (lambda p: _edit(p, '"file": "baseline.logp.npy"', '"file": "../baseline.logp.npy"'),
         "header.log_probs", "scores file"),
        (lambda p: sidecar_path(p).unlink(), "header.log_probs.file", "not found"),
        (lambda p: sidecar_path(p).write_bytes(sidecar_path(p).read_bytes()[:-4] + b"\0\0\0\0"),
         "header.log_probs.sha256", "digest mismatch"),
        (lambda p: _edit(p, "\n  ]\n}\n", "\n  ]\n}\n\n"), "canaries", "after the last canary"),
    ],
)  # fmt: skip
def test_every_edit_is_refused_naming_the_line_or_the_file(
    large: Project, change, key: str, words: str
) -> None:  # type: ignore[no-untyped-def]
    path = large.root / "baseline.json"
    change(path)
    with pytest.raises(BaselineError) as info:
        read_baseline(path, load_suite(large.root / "suite"))
    assert info.value.key == key and words in info.value.one_line()


def test_a_small_suite_keeps_inline_scores_and_drops_a_stale_sidecar(large: Project) -> None:
    record.INLINE_MAX = 10_000  # the monkeypatch restores it afterwards either way
    bless(load_config(large.config), force=True, reason="small again")
    path = large.root / "baseline.json"
    assert json.loads(path.read_text())["format_version"] == 1
    assert not sidecar_path(path).exists()


def test_an_inline_record_reads_the_same_column_by_column_as_entry_by_entry(
    project: Project,
) -> None:
    path, suite = project.root / "baseline.json", load_suite(project.root / "suite")
    rows = json.loads(path.read_text())["canaries"]
    rows.reverse()  # entries in another order than the suite's still land on their canaries
    fast = record._canary_columns(rows, suite)
    slow = record._parse_canary_rows(rows, suite, path)
    assert fast is not None
    np.testing.assert_array_equal(fast.log_probs, slow.log_probs)
    np.testing.assert_array_equal(fast.labels, slow.labels)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda rows: rows[3].update(logp=[True, *rows[3]["logp"][1:]]), "canaries.3.logp"),
        (lambda rows: rows[3].update(logp=rows[3]["logp"][:-1]), "canaries.3.logp"),
        (lambda rows: rows[3].update(logp=[1e39, *rows[3]["logp"][1:]]), "canaries.3.logp"),
        (lambda rows: rows[3].update(id=rows[2]["id"]), "canaries.3.id"),
        (lambda rows: rows[3].update(id=7), "canaries.3.id"),
        (lambda rows: rows[3].update(pred="no such class"), "canaries.3.pred"),
        (lambda rows: rows.__setitem__(3, ["a", "list"]), "canaries.3.id"),
    ],
)
def test_an_inline_entry_that_is_wrong_is_named_by_its_index(
    project: Project, edit: object, key: str
) -> None:
    path = project.root / "baseline.json"
    data = json.loads(path.read_text())
    edit(data["canaries"])  # type: ignore[operator]
    path.write_text(json.dumps(data))
    with pytest.raises(BaselineError) as caught:
        read_baseline(path, load_suite(project.root / "suite"))
    assert caught.value.key == key and caught.value.file == str(path)
