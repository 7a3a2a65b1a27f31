"""What a maintainer expects of the package, and what the README claims about it, checked
against the real thing: license, build backend, version, changelog, pre-commit hooks, the
GitLab snippet, `--help` and `--version`, the trigger-picture path."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelgate._version import __version__
from modelgate.cli import build_parser, main
from modelgate.config import HistorySpec, OutputSpec
from modelgate.report import DEFAULT_FILENAMES, PICTURE_PATTERNS, PICTURES_FOLDER

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the checks are the same on 3.10

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# The first setuptools that reads `license = "SPDX expression"` and `license-files` (PEP 639).
SETUPTOOLS_FLOOR = 77


def pyproject() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data


def fenced_block(after: str) -> str:
    """The text of the fenced block whose first line is `after`, without that line."""
    match = re.search(rf"```\w*\n{re.escape(after)}\n(.*?)```", README, re.S)
    assert match, f"no fenced block starting with {after!r} in the README"
    return match.group(1)


def test_license_file_is_the_declared_license() -> None:
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the whole text, not a pointer to it


def test_build_backend_floor_supports_the_license_field() -> None:
    (requirement,) = pyproject()["build-system"]["requires"]
    match = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", requirement)
    assert match and int(match.group(1)) >= SETUPTOOLS_FLOOR, requirement


def test_built_metadata_carries_license_and_version(tmp_path: Path) -> None:
    """The wheel metadata the installed backend writes (offline: no build isolation)."""
    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "modelgate", source / "modelgate", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "meta").mkdir()
    script = (
        "import setuptools.build_meta as backend, sys; "
        "print(backend.prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "meta")],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    dist_info = done.stdout.strip().splitlines()[-1]
    metadata = (tmp_path / "meta" / dist_info / "METADATA").read_text()
    headers = dict(
        line.split(": ", 1) for line in metadata.split("\n\n", 1)[0].splitlines() if ": " in line
    )
    assert headers["Version"] == __version__
    assert headers["License-Expression"] == "Apache-2.0"
    assert headers["License-File"] == "LICENSE"


def test_one_version_source(capsys: pytest.CaptureFixture[str]) -> None:
    dynamic = pyproject()["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "modelgate._version.__version__"}
    assert "version" not in pyproject()["project"]  # no second copy
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out.strip()
    assert printed == f"modelgate {__version__}"
    assert f"`modelgate --version` prints `{printed}`" in README


def test_changelog_has_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog\n")
    assert f"\n## [{__version__}]" in changelog
    assert "\n## [Unreleased]" in changelog


def test_readme_help_block_is_the_real_help(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regenerate it with `COLUMNS=100 NO_COLOR=1 modelgate --help`."""
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    assert fenced_block("$ modelgate --help") == build_parser().format_help()


def hooks() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return data


@pytest.mark.parametrize("hook", hooks(), ids=lambda h: str(h["id"]))
def test_pre_commit_hook_runs_the_gate(hook: dict[str, Any]) -> None:
    assert hook["language"] in ("python", "system")
    assert hook["pass_filenames"] is False  # the gate reads its config, not the staged files
    program, *args = hook["entry"].split()
    assert program == "modelgate"
    parsed = build_parser().parse_args([*args, "-c", "other.yaml"])  # `args:` come after
    assert parsed.command == "check" and parsed.config == "other.yaml"
    files = re.compile(hook["files"])
    for touched in (
        "modelgate.yaml",
        "ml/modelgate.yml",
        "waivers.yaml",
        "canaries/digits/suite.yaml",
        "baselines/digits.json",
        "models/candidate.safetensors",
        "models/candidate.pt2",
        "models/candidate.onnx",
    ):
        assert files.search(touched), touched
    for untouched in ("README.md", "src/train.py", "notes/modelgate.yaml.txt"):
        assert not files.search(untouched), untouched


def test_pre_commit_hook_ids_are_in_the_readme() -> None:
    ids = [hook["id"] for hook in hooks()]
    assert len(set(ids)) == len(ids)
    config = yaml.safe_load(fenced_block("# .pre-commit-config.yaml"))
    (repo,) = config["repos"]
    assert {hook["id"] for hook in repo["hooks"]} <= set(ids)


def test_gitlab_snippet_runs_the_gate_as_documented() -> None:
    job = yaml.safe_load(fenced_block("# .gitlab-ci.yml"))["modelgate"]
    script = job["script"]
    assert "modelgate check" in [line.split("#")[0].strip() for line in script]
    (quickstart_pin,) = set(re.findall(r"pip install (torch==[0-9.]+) ", README))
    assert any(line.endswith(quickstart_pin) and "/whl/cpu" in line for line in script)
    report_dir = OutputSpec().dir
    assert job["artifacts"]["paths"] == [f"{report_dir}/"]
    assert job["artifacts"]["reports"]["junit"] == f"{report_dir}/{DEFAULT_FILENAMES['junit']}"
    assert job["cache"]["paths"] == [f"{Path(HistorySpec().path).parent}/"]


def test_readme_trigger_picture_paths_are_what_a_run_writes() -> None:
    mentioned = re.findall(r"[\w./<>-]*(?:trigger|probe)-class-[\w<>]+\.png", README)
    assert mentioned
    for path in mentioned:
        if (ROOT / path).is_file():  # a committed example picture
            continue
        folder, _, name = path.rpartition("/")
        assert folder.rpartition("/")[2] == PICTURES_FOLDER or not folder, path
        assert any(fnmatch.fnmatch(name.replace("<k>", "7"), p) for p in PICTURE_PATTERNS), path
    assert f"<report dir>/{PICTURES_FOLDER}/trigger-class-<k>.png" in README
