"""One check, three doors: the CLI, the GitHub Action and the pytest plugin run `run_check` on the
bundled example and write the same report set, trigger pictures included.

The backdoored digits model, so every kind of report file is written (JSON, JUnit, Markdown and
the recovered triggers' PNGs); the three sets may differ only in their timestamps.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from projects import copy_example

from modelgate.action import main as action_main
from modelgate.cli import main as cli_main

PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^ |)<\n\"]*")


def report_set(folder: Path) -> dict[str, bytes]:
    """Every file under the report folder, by relative path; timestamps and durations blanked."""
    files: dict[str, bytes] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".json":
            doc = json.loads(data)
            doc["started_at"] = doc["finished_at"] = ""
            data = json.dumps(doc, sort_keys=True).encode()
        elif path.suffix in (".xml", ".md"):
            text = re.sub(r'(timestamp|time)="[^"]*"', r'\1=""', data.decode())
            data = _ISO_TIME.sub("<time>", text).encode()
        files[path.relative_to(folder).as_posix()] = data
    return files


def test_cli_action_and_pytest_plugin_write_the_same_reports_on_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = copy_example(tmp_path, "backdoored")
    config = example / "modelgate.yaml"
    candidate = str(example / "models" / "backdoored.safetensors")
    reports = tmp_path / "modelgate-report"  # the example's output.dir

    assert cli_main(["check", "-q", "-c", str(config), "--candidate", candidate]) == 1
    by_cli = report_set(reports)
    shutil.rmtree(reports)

    monkeypatch.chdir(tmp_path)  # the Action changes into its working-directory
    env = {
        "GITHUB_WORKSPACE": str(tmp_path),
        "INPUT_WORKING_DIRECTORY": str(example),
        "INPUT_CONFIG": "modelgate.yaml",
        "INPUT_CANDIDATE": candidate,
    }
    assert action_main(env, io.StringIO()) == 1
    by_action = report_set(reports)
    shutil.rmtree(reports)

    # The user's own pytest run, in the example's folder.
    run = subprocess.run(
        [*PYTEST, "--modelgate", "modelgate.yaml", "--modelgate-candidate", candidate],
        cwd=example,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-3000:]  # the checks that found the trigger fail
    by_pytest = report_set(reports)

    expected = {"modelgate-report.json", "modelgate-junit.xml", "modelgate-report.md"}
    assert expected <= set(by_cli)
    pictures = [name for name in by_cli if name.startswith("modelgate-pictures/")]
    assert pictures and all(name.endswith(".png") for name in pictures)
    report = json.loads(by_cli["modelgate-report.json"])
    assert report["verdict"] == "failed" and report["candidate"]["path"].endswith(
        "backdoored.safetensors"
    )
    assert by_action == by_cli
    assert by_pytest == by_cli


def test_pictures_are_written_only_with_the_report_set(tmp_path: Path) -> None:
    """The check itself writes no file but the ledger; the trigger pictures are part of the
    report set the session writes (none with reports off)."""
    from modelgate.api import ReportRequest, run_check

    example = copy_example(tmp_path, "backdoored")
    candidate = example / "models" / "backdoored.safetensors"
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    run = run_check(
        example / "modelgate.yaml", candidate=candidate, reports=ReportRequest(enabled=False)
    )
    assert run.result.pictures == () and run.reports == {}
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    assert {p.relative_to(example).as_posix() for p in written} == {".modelgate/history.sqlite"}
