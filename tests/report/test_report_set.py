"""Writing the report set: all formats or none, and no earlier run's report left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelgate.report import (
    DEFAULT_FILENAMES,
    FORMATS,
    discard_reports,
    pictures_dir,
    write_reports,
)
from modelgate.report.targets import plan_targets
from modelgate.result import GateResult


def default_targets(folder: Path) -> dict[str, Path]:
    """Every format's file in `folder`, as a run with only an output folder writes them."""
    return plan_targets(folder, tuple(FORMATS), {}).targets


def test_write_reports_writes_every_format(tmp_path: Path, failing_result: GateResult) -> None:
    targets = default_targets(tmp_path / "out")
    written = write_reports(failing_result, targets)
    assert set(written) == set(FORMATS) == set(DEFAULT_FILENAMES)
    assert {p.name for p in written.values()} == set(DEFAULT_FILENAMES.values())
    assert json.loads(written["json"].read_text("utf-8"))["verdict"] == "failed"
    assert written["junit"].read_text("utf-8").startswith("<?xml")


def test_a_render_failure_writes_nothing(
    tmp_path: Path, failing_result: GateResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(result: GateResult) -> str:
        raise RuntimeError("renderer bug")

    monkeypatch.setitem(FORMATS, "markdown", broken)
    with pytest.raises(RuntimeError, match="renderer bug"):
        write_reports(failing_result, default_targets(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_write_reports_refuses_unknown_formats_and_shared_paths(
    tmp_path: Path, failing_result: GateResult
) -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        write_reports(failing_result, {"html": tmp_path / "r.html"})
    same = tmp_path / "r.txt"
    with pytest.raises(ValueError, match="share one path"):
        write_reports(failing_result, {"json": same, "markdown": same})


def test_discard_reports_removes_only_modelgates_own_files(
    tmp_path: Path, failing_result: GateResult
) -> None:
    targets = default_targets(tmp_path)
    write_reports(failing_result, targets)
    pictures = pictures_dir(targets)
    assert pictures == tmp_path / "modelgate-pictures"
    pictures.mkdir()
    for name in ("trigger-class-3.png", "probe-class-3.png", "mine.png"):
        (pictures / name).write_bytes(b"png")
    (tmp_path / "notes.md").write_text("kept")
    discard_reports(targets)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["modelgate-pictures", "notes.md"]
    assert [p.name for p in pictures.iterdir()] == ["mine.png"]
    discard_reports(targets)  # nothing left to remove is fine
    assert pictures_dir({"json": tmp_path / "r.json"}) is None  # no Markdown, no pictures
