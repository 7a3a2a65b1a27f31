"""The plugin writes the report set `modelgate check` writes, from the same run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from outcomes import poison
from projects import Project

from modelgate.cli import main

pytest_plugins = ["pytester"]


def report_files(folder: Path) -> dict[str, object]:
    """Every file under `folder` -> its content (JSON without the run's timestamps)."""
    files: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            data.pop("started_at", None)
            data.pop("finished_at", None)
            files[name] = data
        else:
            files[name] = path.stat().st_size > 0
    return files


def test_same_reports_as_the_cli(pytester: pytest.Pytester, project: Project) -> None:
    poison(project)
    result = pytester.runpytest("--modelgate", "modelgate.yaml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    plugin = report_files(project.root / "reports")
    assert {"modelgate-report.json", "modelgate-junit.xml", "modelgate-report.md"} <= set(plugin)
    result.stdout.fnmatch_lines(["*modelgate reports*", "json report: *modelgate-report.json"])
    assert main(["check", "-q", "-c", str(project.config), "--output-dir", "cli"]) == 1
    assert report_files(project.root / "cli") == plugin


def test_undecided_run_leaves_no_earlier_report(
    pytester: pytest.Pytester, project: Project
) -> None:
    assert pytester.runpytest("--modelgate", "modelgate.yaml").ret == pytest.ExitCode.OK
    assert (project.root / "reports" / "modelgate-report.json").is_file()
    (project.root / "candidate.safetensors").write_bytes(b"not weights")
    assert pytester.runpytest("--modelgate", "modelgate.yaml").ret == pytest.ExitCode.TESTS_FAILED
    assert not list((project.root / "reports").iterdir())
