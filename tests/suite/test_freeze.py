"""`suite init`: everything is checked before a file is written; a refused init leaves nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelgate.errors import SuiteError, UsageError
from modelgate.suite import freeze
from modelgate.suite.format import MANIFEST_NAME, read_manifest


def _init(folder: Path, labels: list[str], **given: object) -> object:
    arguments: dict[str, object] = dict(
        name="s", modality="tabular", inputs=np.zeros((len(labels), 2), np.float32),
        labels=labels, curated_by="t", source="unit test",
    )  # fmt: skip
    arguments.update(given)
    return freeze.init_suite(folder, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "key", "words"),
    [
        ({"classes": ["a", "a", "b"]}, "classes", "unique"),
        ({"classes": ["a", "c"]}, "labels", "'b' of canary 2"),
        ({"classes": ["a", "b", ""]}, "classes", "empty"),
        ({"classes": ["a", "b\x00"]}, "classes", "control character"),
        ({"classes": ["a", " b"]}, "classes", "space"),
        ({"ids": ["x", "x"]}, "ids", "duplicate canary id"),
        ({"ids": ["x", " "]}, "ids", "empty id"),
        ({"name": "\x1b[31m"}, "name", "control character"),
    ],
)
def test_a_refused_init_names_the_argument_and_writes_nothing(
    tmp_path: Path, given: dict[str, object], key: str, words: str
) -> None:
    folder = tmp_path / "new"
    with pytest.raises(UsageError) as refused:
        _init(folder, ["a", "b"], **given)
    assert refused.value.key == key and words in refused.value.message
    assert not folder.exists()
    _init(folder, ["a", "b"])  # the retry is not blocked by a half suite
    assert read_manifest(folder).classes == ["a", "b"]


def test_a_failure_after_the_first_write_removes_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's own file")

    def broken(_: Path) -> None:
        raise SuiteError("the disk filled up")

    monkeypatch.setattr(freeze, "freeze_suite", broken)
    with pytest.raises(SuiteError):
        _init(folder, ["a", "b"])
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_hand_written_manifest_with_a_blank_class_is_refused(tmp_path: Path) -> None:
    _init(tmp_path / "s", ["a", "b"])
    manifest = tmp_path / "s" / MANIFEST_NAME
    manifest.write_text(manifest.read_text().replace("- b\n", "- ' '\n"))
    with pytest.raises(SuiteError, match="class name is empty"):
        read_manifest(tmp_path / "s")


def test_labels_are_stripped_before_the_classes_are_read_from_them(tmp_path: Path) -> None:
    _init(tmp_path / "s", [" a", "b "])
    assert read_manifest(tmp_path / "s").classes == ["a", "b"]


def test_a_nan_input_is_refused_at_init_naming_the_canary(tmp_path: Path) -> None:
    x = np.zeros((3, 2), np.float32)
    x[1, 0] = np.nan
    with pytest.raises(SuiteError, match=r"'s-1'.*NaN"):
        _init(tmp_path / "s", ["a", "b", "a"], inputs=x)
    assert not (tmp_path / "s").exists()
