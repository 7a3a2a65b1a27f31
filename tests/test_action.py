"""The GitHub Action's script, run as the runner would: inputs and outputs only through the
environment and the GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV files."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from projects import (
    BASE_CONFIG,
    Project,
    build_project,
    linear_weights,
    make_data,
    save_weights,
)

from modelgate.action import main

# Class 0 carries a newline that would start a `::warning::` line of its own if printed raw.
HOSTILE = ("c,d:e\n::warning::f", "a::error::x%0A<b>|*x*</b>", "@org/team")
_COMMAND = re.compile(r"^::(error|warning|notice) ")


def read_commands_file(path: Path) -> dict[str, str]:
    """A GITHUB_OUTPUT / GITHUB_ENV file as the runner reads it (`k=v` and heredocs)."""
    values: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            values[name] = "\n".join(iter(lines.__next__, delimiter))
        elif line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def action_env(root: Path, **inputs: str) -> dict[str, str]:
    env = {
        "GITHUB_WORKSPACE": str(root),
        "GITHUB_OUTPUT": str(root / "gh-output"),
        "GITHUB_STEP_SUMMARY": str(root / "gh-summary.md"),
        "GITHUB_ENV": str(root / "gh-env"),
        "INPUT_WORKING_DIRECTORY": str(root),
    }
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return env


def run_action(env: dict[str, str]) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = main(env, out)
    return code, out.getvalue().splitlines()


def commands_outside_stop(lines: list[str]) -> list[str]:
    """The lines the runner would parse as commands: all but those inside stop-commands."""
    seen, token = [], None
    for line in lines:
        if token is not None:
            if line == f"::{token}::":
                token = None
            continue
        match = re.match(r"^::stop-commands::(\w+)$", line)
        if match:
            token = match.group(1)
            continue
        seen.append(line)
    assert token is None, "commands were never switched back on"
    return seen


@pytest.fixture(autouse=True)
def _restore_cwd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # the action changes folder; monkeypatch changes it back


def test_passing_project(project: Project) -> None:
    code, lines = run_action(action_env(project.root))
    assert code == 0
    assert commands_outside_stop(lines) == []  # nothing to annotate
    outputs = read_commands_file(project.root / "gh-output")
    assert outputs["verdict"] == "passed" and outputs["exit-code"] == "0"
    assert outputs["findings"] == "0" and outputs["unexplained-flips"] == "0"
    assert Path(outputs["report-json"]).is_file()
    assert outputs["report-dir"] == str((project.root / "reports").resolve())
    summary = (project.root / "gh-summary.md").read_text()
    assert summary.startswith("# modelgate: ✅ passed")
    env = read_commands_file(project.root / "gh-env")
    assert env == {"MODELGATE_VERDICT": "passed", "MODELGATE_REPORT_DIR": outputs["report-dir"]}


@pytest.mark.parametrize(("fail_on_findings", "expected"), [("true", 1), ("false", 0)])
def test_failing_project(project: Project, fail_on_findings: str, expected: int) -> None:
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    env = action_env(project.root, fail_on_findings=fail_on_findings, report_dir="out")
    code, lines = run_action(env)
    assert code == expected
    outputs = read_commands_file(project.root / "gh-output")
    assert outputs["verdict"] == "failed" and outputs["exit-code"] == "1"
    assert int(outputs["findings"]) >= 3 and "stats.destination" in outputs["failed-checks"]
    assert outputs["report-dir"] == str((project.root / "out").resolve())
    commands = commands_outside_stop(lines)
    errors = [c for c in commands if c.startswith("::error ")]
    assert errors and all("file=modelgate.yaml,line=" in c for c in errors)
    assert any(c.startswith("::notice ") for c in commands) == (fail_on_findings == "false")
    assert "## Findings" in (project.root / "gh-summary.md").read_text()


def hostile_project(root: Path) -> Path:
    """A blessed project whose class names and some canary ids are hostile text."""
    n = len(make_data()[1])
    ids = [f"id-{i:03d}" if i % 7 else f"::error::id{i}%0A,<i>" for i in range(n)]
    config = build_project(root, classes=HOSTILE, ids=ids, name="hostile")
    save_weights(root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    return config


def test_hostile_labels_cannot_break_out(tmp_path: Path) -> None:
    hostile_project(tmp_path)
    code, lines = run_action(action_env(tmp_path))
    assert code == 1
    commands = commands_outside_stop(lines)
    assert 3 <= len(commands) <= 11
    for line in commands:
        assert _COMMAND.match(line), line  # one command per line, nothing else
        assert re.search(r"%(?!25|0D|0A|3A|2C)", line) is None  # every % starts an escape
        assert "x%0A" not in line and "<i>" not in line.partition("::")[0]
    text = "\n".join(commands)
    assert "a::error::x%250A<b>" in text  # the label, escaped, inside a message
    assert "c,d:e\\n::warning::f" in text  # the newline shown as `\n`, not a new line
    summary = (tmp_path / "gh-summary.md").read_text()
    assert "<b>" not in summary and "a::error::x%0A\\<b\\>\\|\\*x\\*\\</b\\>" in summary
    assert "\n::warning::f" not in summary
    # The console report inside the stop-commands block still repeats the labels safely.
    assert not any(line.startswith("::warning::f") for line in lines)


def test_config_error_is_an_annotation_with_file_and_line(project: Project) -> None:
    project.write_config(BASE_CONFIG + "polcy:\n  alpha: 0.1\n")
    code, lines = run_action(action_env(project.root))
    assert code == 2
    (line,) = commands_outside_stop(lines)
    assert line.startswith("::error file=modelgate.yaml,line=10,title=modelgate could not decide::")
    assert "polcy" in line
    outputs = read_commands_file(project.root / "gh-output")
    assert outputs["verdict"] == "undecided" and outputs["exit-code"] == "2"
    assert "could not decide" in (project.root / "gh-summary.md").read_text()


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"fail_on_findings": "maybe"}, "fail-on-findings must be true or false"),
        ({"working_directory": "nowhere"}, "working-directory is not a folder"),
        ({"config": "missing.yaml"}, "missing.yaml"),
    ],
)
def test_bad_inputs_exit_2(project: Project, inputs: dict[str, str], message: str) -> None:
    code, lines = run_action(action_env(project.root, **inputs))
    assert code == 2
    (line,) = commands_outside_stop(lines)
    assert line.startswith("::error ") and message in line


def test_module_entry_point(project: Project) -> None:
    """`python -m modelgate.action`, as action.yml runs it, with only the environment."""
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    env = {"PATH": "/usr/bin:/bin", **action_env(project.root, fail_on_findings="false")}
    done = subprocess.run(
        [sys.executable, "-m", "modelgate.action"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_commands_file(project.root / "gh-output")["verdict"] == "failed"
    assert "Traceback" not in done.stdout + done.stderr


def test_an_undecided_run_uploads_no_earlier_verdict(project: Project) -> None:
    code, _ = run_action(action_env(project.root))
    assert code == 0 and (project.root / "reports" / "modelgate-report.json").is_file()
    (project.root / "candidate.safetensors").write_bytes(b"not weights")
    code, _ = run_action(action_env(project.root))
    assert code == 2
    assert read_commands_file(project.root / "gh-output")["verdict"] == "undecided"
    assert not list((project.root / "reports").iterdir())


def test_a_config_error_uploads_no_earlier_verdict_either(project: Project) -> None:
    code, _ = run_action(action_env(project.root))
    assert code == 0 and (project.root / "reports" / "modelgate-report.json").is_file()
    project.config.write_text(project.config.read_text() + "policy: {alpha: 7}\n")
    code, _ = run_action(action_env(project.root))
    assert code == 2
    assert not list((project.root / "reports").iterdir())
