"""The training-data manifest: the suite's own format plus `source`; every malformed manifest is
one TrainingDataError naming the file and key (exit 2), never a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelgate.attribution.manifest import (
    TrainingDataError,
    load_training_data,
    scored_rows,
    write_training_data,
)

CLASSES = ("a", "b")


def manifest(root: Path, n: int = 6) -> Path:
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return write_training_data(
        root / "train", name="t", modality="tabular", inputs=x,
        labels=[CLASSES[i % 2] for i in range(n)], sources=[f"s{i % 3}" for i in range(n)],
        classes=CLASSES, added=[f"2026-01-0{i + 1}" for i in range(n)],
    )  # fmt: skip


def test_round_trip(tmp_path: Path) -> None:
    data = load_training_data(manifest(tmp_path), CLASSES)
    assert len(data) == 6
    assert data.sources == ("s0", "s1", "s2", "s0", "s1", "s2")
    assert data.rows.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert data.added[0] == "2026-01-01"


def test_text_round_trip(tmp_path: Path) -> None:
    """Texts go to inputs.jsonl, awkward characters included, and come back as a list."""
    texts = ["plain words", 'a "quote", a comma', "ünïcödé\ttab", "=1+1 formula-like"]
    folder = write_training_data(
        tmp_path / "train", name="t", modality="text", inputs=texts, labels=["a", "b", "a", "b"],
        sources=["s0", "s1", "s0", "s1"], classes=CLASSES,
    )  # fmt: skip
    assert (folder / "inputs.jsonl").is_file()
    data = load_training_data(folder, CLASSES)
    assert data.rows.inputs == texts
    assert data.sources == ("s0", "s1", "s0", "s1")


def test_the_row_budget_keeps_the_latest_rows(tmp_path: Path) -> None:
    data = load_training_data(manifest(tmp_path), CLASSES)
    assert scored_rows(data, 10).tolist() == [0, 1, 2, 3, 4, 5]
    assert scored_rows(data, 2).tolist() == [4, 5]


def _edit_table(folder: Path, old: str, new: str) -> None:
    """Edit the rows table and re-record its digest without validating it (as a careless
    pipeline would), so the loader, not the digest check, meets the edit."""
    import yaml

    from modelgate.digest import file_sha256

    table = folder / "samples.csv"
    table.write_text(table.read_text().replace(old, new, 1))
    manifest = yaml.safe_load((folder / "suite.yaml").read_text())
    manifest["files"]["samples.csv"] = "sha256:" + file_sha256(table)
    (folder / "suite.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        (lambda f: _edit_table(f, ",source,", ",origin,"), "source", "no `source` column"),
        (lambda f: _edit_table(f, ",s1,", ",,"), "source", "empty source"),
        (lambda f: _edit_table(f, "t-1,b", "t-1,zebra"), "label", "not one of the suite's"),
        (lambda f: _edit_table(f, "t-1,", "t-0,"), "id", "duplicate canary id"),
        (lambda f: (f / "inputs.npy").write_bytes(b"junk"), "files.inputs.npy", "changed"),
        (lambda f: (f / "samples.csv").unlink(), "files.samples.csv", "missing"),
        (lambda f: (f / "suite.yaml").write_text("name: [\n"), None, ""),
    ],
)
def test_malformed_manifests_name_file_and_key(
    tmp_path: Path, edit: object, key: str | None, message: str
) -> None:
    folder = manifest(tmp_path)
    edit(folder)  # type: ignore[operator]
    with pytest.raises(TrainingDataError) as info:
        load_training_data(folder, CLASSES)
    error = info.value
    assert error.file and str(folder) in error.file
    if key:
        assert error.key == key
    assert message in error.message
    assert "\n" not in error.one_line()


def test_other_classes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="not the suite's") as info:
        load_training_data(manifest(tmp_path), ("b", "a"))
    assert info.value.key == "classes"


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="not found"):
        load_training_data(tmp_path / "nowhere", CLASSES)


@pytest.mark.parametrize(
    ("shape", "dtype", "key"), [([3], "float32", "input.shape"), ([2], "float64", "input.dtype")]
)
def test_rows_the_model_cannot_score_like_the_canaries_are_refused(
    tmp_path: Path, shape: list[int], dtype: str, key: str
) -> None:
    """Scoring them would fail inside the model (exit 3) after the candidate had run."""
    from modelgate.suite.format import InputSpec

    with pytest.raises(TrainingDataError, match="not the canary suite's") as info:
        load_training_data(
            manifest(tmp_path), CLASSES, input_like=InputSpec(shape=shape, dtype=dtype)
        )
    assert info.value.key == key
    same = load_training_data(manifest(tmp_path / "ok"), CLASSES, input_like=InputSpec(shape=[2]))
    assert len(same) == 6
