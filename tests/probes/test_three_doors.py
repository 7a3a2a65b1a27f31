"""The CLI, the GitHub Action and the pytest plugin write the same report set for one check.

A backdoored image candidate, so the set includes the trigger pictures (which the Action's
artifact once lacked); the three runs differ only in their timestamps.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from probe_fixtures import image_project

from modelgate.action import main as action_main
from modelgate.api import bless
from modelgate.cli import main as cli_main


def report_set(folder: Path) -> dict[str, bytes]:
    """Every file under the report folder, timestamps and durations blanked."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".json":
            doc = json.loads(data)
            doc["started_at"] = doc["finished_at"] = ""
            data = json.dumps(doc, sort_keys=True).encode()
        elif path.suffix in (".xml", ".md"):
            text = data.decode()
            text = re.sub(r'(timestamp|time)="[^"]*"', r'\1=""', text)
            text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^ |)<\n]*", "<time>", text)
            data = text.encode()
        files[str(path.relative_to(folder))] = data
    return files


def test_cli_action_and_pytest_write_the_same_reports(tmp_path: Path) -> None:
    root = tmp_path
    config = image_project(root)
    bless(config)
    config.write_text(config.read_text().replace("model.py:build", "model.py:build_backdoored"))
    reports = root / "modelgate-report"

    assert cli_main(["check", "-c", str(config)]) == 1
    by_cli = report_set(reports)
    shutil.rmtree(reports)

    env = {
        "GITHUB_WORKSPACE": str(root),
        "INPUT_WORKING_DIRECTORY": str(root),
        "INPUT_CONFIG": "modelgate.yaml",
    }
    assert action_main(env, io.StringIO()) == 1
    by_action = report_set(reports)
    shutil.rmtree(reports)

    # A pytest run of its own, in the project's folder, as a user runs the plugin.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*command, "--modelgate", "modelgate.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-2000:]  # the checks that found the trigger fail
    by_pytest = report_set(reports)

    assert "modelgate-pictures/trigger-class-2.png" in by_cli
    assert {"modelgate-report.json", "modelgate-junit.xml", "modelgate-report.md"} <= set(by_cli)
    assert by_action == by_cli
    assert by_pytest == by_cli
