"""The GitHub Action's script, run as the runner would: inputs and outputs only through the
environment and the GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files; and action.yml itself, read as
the runner reads it, with its install step run against a stub Python."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml
from projects import (
    BASE_CONFIG,
    Project,
    blanked_reports,
    build_project,
    linear_weights,
    make_data,
    save_weights,
)

from modelgate.action import config_locator, main
from modelgate.result import Check, CheckName, Finding, Status, tag_budget

# Class 0 carries a newline that would start a `::warning::` line of its own if printed raw.
# No newline in a class name: a suite refuses control characters there (tests/suite).
HOSTILE = ("c,d:e ::warning::f", "a::error::x%0A<b>|*x*</b>", "@org/team")
_COMMAND = re.compile(r"^::(error|warning|notice) ")


def read_commands_file(path: Path) -> dict[str, str]:
    """A GITHUB_OUTPUT file as the runner reads it (`k=v` and heredocs)."""
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
    # Nothing for later steps of the user's job: GITHUB_ENV is given, and left alone.
    assert not (project.root / "gh-env").exists()


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
    assert "c,d:e ::warning::f" in text  # inside a message, never a command of its own
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
        ({"shard": "1/2", "merge": "parts"}, "merge: shard and merge are both set"),
        ({"shard": "3/2"}, "shard: shard 3 of 2: K must be between 1 and N"),
        ({"shard": "half"}, "shard: 'half' is not K/N"),
        ({"shard": "1/2", "report_dir": "out"}, "shard: a shard writes no report"),
        ({"merge": "nowhere/part-*.json"}, "nowhere/part-*.json: parts: matches no file"),
        ({"merge": "nowhere"}, "nowhere: parts:"),
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


# --- a matrix of `shard:` steps and a `merge:` step ------------------------------------------


@pytest.fixture(scope="module")
def blessed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blessed project in batches of 16 (15 batches), its candidate with real flips."""
    root = tmp_path_factory.mktemp("blessed")
    config = build_project(root)
    config.write_text(config.read_text() + "inference: {batch_size: 16}\n")
    save_weights(root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    return root


def copy_of(blessed: Path, folder: Path) -> Path:
    """A fresh copy (own ledger, own reports) of the blessed project."""
    shutil.copytree(blessed, folder)
    return folder


def run_shard_step(root: Path, shard: str) -> dict[str, str]:
    """One matrix job's shard step; returns its outputs."""
    (root / "gh-output").unlink(missing_ok=True)
    code, lines = run_action(action_env(root, shard=shard))
    assert code == 0, lines
    (notice,) = commands_outside_stop(lines)
    assert notice.startswith("::notice title=modelgate::shard " + shard)
    return read_commands_file(root / "gh-output")


def download_parts(outputs: list[dict[str, str]], folder: Path) -> None:
    """What upload-artifact of each `part-files` then download-artifact (merge-multiple) do."""
    folder.mkdir()
    for values in outputs:
        for file in values["part-files"].splitlines():
            shutil.copy(file, folder)


def test_shards_then_merge_give_the_single_process_report(blessed: Path, tmp_path: Path) -> None:
    single = copy_of(blessed, tmp_path / "single")
    code, _ = run_action(action_env(single))
    assert code == 1  # the shifted candidate fails
    sharded = copy_of(blessed, tmp_path / "sharded")
    outputs = [run_shard_step(sharded, shard) for shard in ("2/2", "1/2")]
    for values, k in zip(outputs, (2, 1), strict=True):
        part = (sharded / "modelgate-parts" / f"part-{k}-of-2.json").resolve()
        assert values == {
            "exit-code": "0",
            "part": str(part),
            "part-files": f"{part}\n{part.with_name(f'part-{k}-of-2.logp.npy')}",
            "part-dir": str(part.parent),
        }  # no verdict, no report: the merge decides
    assert not (sharded / "reports").exists()
    assert "shard 1/2 predicted" in (sharded / "gh-summary.md").read_text()
    download_parts(outputs, tmp_path / "downloaded")
    (sharded / "gh-output").unlink()
    code, lines = run_action(action_env(sharded, merge=str(tmp_path / "downloaded")))
    assert code == 1
    assert blanked_reports(sharded / "reports") == blanked_reports(single / "reports")
    merged = read_commands_file(sharded / "gh-output")
    expected = read_commands_file(single / "gh-output")
    for name in ("verdict", "exit-code", "findings", "failed-checks", "unexplained-flips"):
        assert merged[name] == expected[name], name
    assert any(c.startswith("::error ") for c in commands_outside_stop(lines))
    assert "## Findings" in (sharded / "gh-summary.md").read_text()


@pytest.mark.parametrize("form", ["glob", "lines"])
def test_merge_takes_globs_and_one_part_per_line(blessed: Path, tmp_path: Path, form: str) -> None:
    root = copy_of(blessed, tmp_path / "project")
    outputs = [run_shard_step(root, shard) for shard in ("1/2", "2/2")]
    parts = "modelgate-parts/part-*-of-2.json"
    if form == "lines":
        parts = "\n".join(values["part"] for values in outputs) + "\n"
    (root / "gh-output").unlink()
    code, _ = run_action(action_env(root, merge=parts))
    assert code == 1
    assert read_commands_file(root / "gh-output")["verdict"] == "failed"


def test_merge_with_a_missing_part_is_exit_2_naming_it(blessed: Path, tmp_path: Path) -> None:
    root = copy_of(blessed, tmp_path / "project")
    run_shard_step(root, "1/3")
    run_shard_step(root, "3/3")
    (root / "reports").mkdir()
    (root / "reports" / "modelgate-report.json").write_text("{}")  # an earlier verdict
    code, lines = run_action(action_env(root, merge="modelgate-parts"))
    assert code == 2
    assert not any("Traceback" in line for line in lines)
    (line,) = commands_outside_stop(lines)
    assert line.startswith("::error ") and "part-2-of-3.json" in line and "missing" in line
    assert "80..159" in line
    assert read_commands_file(root / "gh-output")["verdict"] == "undecided"
    assert not (root / "reports" / "modelgate-report.json").exists()  # no stale verdict


# --- action.yml, read as the runner reads it -------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
ACTION_YML = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")
STUB_PYTHON = """#!/usr/bin/env bash
# A stand-in for python: logs how it was called; `-m venv DIR` makes DIR/bin/python (itself).
echo "$0 $*" >> "$STUB_LOG"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
"""


def action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION_YML.read_text())
    return data


def step(step_id: str) -> dict[str, Any]:
    (found,) = [s for s in action()["runs"]["steps"] if s.get("id") == step_id]
    return found


def step_env(found: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """The step's `env:` with each `${{ ... }}` replaced as the runner would."""
    defaults = {f"inputs.{k}": str(v.get("default", "")) for k, v in action()["inputs"].items()}
    known = {**defaults, **values}
    return {
        name: EXPRESSION.sub(lambda m: known[m.group(1)], str(value))
        for name, value in found.get("env", {}).items()
    }


def run_install(tmp_path: Path, **inputs: str) -> tuple[list[str], Path]:
    """Run the install step's script with a stub system Python; returns the calls it made
    (the stub's own path shown as `SYSTEM`, the venv's python as `VENV`) and its folder."""
    stub = tmp_path / "system-python"
    stub.write_text(STUB_PYTHON)
    stub.chmod(0o755)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    found = step("install")
    values = {f"inputs.{k.replace('_', '-')}": v for k, v in inputs.items()}
    values["steps.python.outputs.python-path"] = str(stub)
    env = {
        "PATH": "/usr/bin:/bin",
        "STUB_LOG": str(tmp_path / "calls.log"),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_ACTION_PATH": "/the/action",
        "GITHUB_OUTPUT": str(tmp_path / "gh-output"),
        "GITHUB_ENV": str(tmp_path / "gh-env"),
        **step_env(found, values),
    }
    subprocess.run(["bash", "-c", found["run"]], env=env, cwd=tmp_path, check=True, timeout=60)
    venv_python = str(runner_temp / "modelgate-venv" / "bin" / "python")
    calls = [
        line.replace(venv_python, "VENV").replace(str(stub), "SYSTEM")
        for line in (tmp_path / "calls.log").read_text().splitlines()
    ]
    return calls, tmp_path


PIP = "VENV -m pip install --disable-pip-version-check --quiet"


def readme_torch_pin() -> str:
    (pin,) = set(
        re.findall(r"pip install (torch==[0-9][0-9.]*) ", (ROOT / "README.md").read_text())
    )
    return pin


def test_install_uses_its_own_venv_and_the_pinned_cpu_torch(tmp_path: Path) -> None:
    calls, folder = run_install(tmp_path)
    venv = tmp_path / "runner-temp" / "modelgate-venv"
    # The job's Python only creates the venv; every install goes into the venv (PEP 668).
    assert calls[0] == f"SYSTEM -m venv {venv}"
    assert all(call.startswith("VENV ") for call in calls[1:])
    assert calls[1:] == [
        f"{PIP} --index-url https://download.pytorch.org/whl/cpu {readme_torch_pin()}",
        f"{PIP} /the/action",
    ]
    assert read_commands_file(folder / "gh-output") == {"python": str(venv / "bin" / "python")}
    assert not (folder / "gh-env").exists()


def test_torch_pin_matches_the_readme_and_ci() -> None:
    pin = readme_torch_pin()
    assert action()["inputs"]["torch-spec"]["default"] == pin
    assert f"pip install {pin} " in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(
    ("inputs", "torch_call"),
    [
        ({"torch_spec": "torch==2.5.1", "torch_index_url": ""}, f"{PIP} torch==2.5.1"),
        (
            {"torch_index_url": "https://download.pytorch.org/whl/cu126"},
            f"{PIP} --index-url https://download.pytorch.org/whl/cu126 torch==2.13.0",
        ),
        ({"torch_spec": ""}, None),  # no torch of its own: modelgate's dependency picks one
    ],
)
def test_torch_can_be_overridden(
    tmp_path: Path, inputs: dict[str, str], torch_call: str | None
) -> None:
    calls, _ = run_install(tmp_path, **inputs)
    assert calls[1:] == [*([torch_call] if torch_call else []), f"{PIP} /the/action"]


def test_pip_spec_is_split_never_evaluated(tmp_path: Path) -> None:
    calls, folder = run_install(tmp_path, pip_spec='-e . "$(touch pwned)" ;touch pwned2')
    assert calls[-1] == f'{PIP} -e . "$(touch pwned)" ;touch pwned2'
    assert not (folder / "pwned").exists() and not (folder / "pwned2").exists()


def test_the_gate_runs_with_the_venv_python() -> None:
    gate = step("gate")
    assert gate["env"]["MODELGATE_PYTHON"] == "${{ steps.install.outputs.python }}"
    assert gate["run"].strip() == '"$MODELGATE_PYTHON" -m modelgate.action'


def test_inputs_reach_scripts_only_through_env_and_nothing_sets_github_env() -> None:
    for found in action()["runs"]["steps"]:
        script = found.get("run", "")
        assert "${{" not in script, found["name"]
        assert "GITHUB_ENV" not in script and "GITHUB_PATH" not in script, found["name"]
    assert "GITHUB_ENV" not in (ROOT / "modelgate" / "action.py").read_text().replace(
        "never GITHUB_ENV", ""
    ).replace("GITHUB_ENV would", "")


LOCATED_POLICY = """\
policy:
  alpha: 0.02
  accuracy:
    max_drop: 0.05
  tests:
    reversal: warn
  tags:
    watched:
      max_flips: 1
"""
LOCATED_CONFIG = BASE_CONFIG.lstrip() + LOCATED_POLICY


@pytest.mark.parametrize(
    ("check", "line"),
    [
        (CheckName.ACCURACY, 13),  # its budget
        (CheckName.REVERSAL, 15),  # its test mode
        (CheckName.DESTINATION, 11),  # no mode set: the false-alarm budget it shares
        (CheckName.TRIGGERS, 11),
        (CheckName.DRIFT, 11),
        (tag_budget("watched"), 17),
        (tag_budget("watched", negative=True), 17),
        (CheckName.PROTECTED_BUDGET, 3),  # nothing set for it: the candidate line
    ],
)
def test_annotations_point_at_the_policy_line_of_the_check(
    tmp_path: Path, check: str, line: int
) -> None:
    from modelgate.config import load_config

    path = tmp_path / "modelgate.yaml"
    path.write_text(LOCATED_CONFIG)
    config = load_config(path)
    result = SimpleNamespace(waivers=())
    locate = config_locator(config, cast(Any, result), {"GITHUB_WORKSPACE": str(tmp_path)})
    finding = Finding(check=check, message="m")
    where = locate(Check(check, Status.FAILED, "s", (finding,)), finding)
    assert (where.file, where.line) == ("modelgate.yaml", line)


def readme_table(section: str) -> dict[str, list[str]]:
    """The first table of a README section: first cell (backticks off) -> the other cells."""
    readme = (ROOT / "README.md").read_text()
    text = readme[readme.index(f"\n## {section}\n") :]
    text = text[: text.index("\n## ", 1)]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `"):
            rows[cells[0].strip("`")] = cells[1:]
        elif rows and not line.startswith("|"):
            break
    return rows


def test_the_readme_lists_every_input_with_its_default() -> None:
    inputs = action()["inputs"]
    table = readme_table("In CI: the GitHub Action")
    assert sorted(table) == sorted(inputs)
    for name, (default, _meaning) in table.items():
        assert default.strip("`") == str(inputs[name].get("default", "")), name


def test_the_readme_names_every_output() -> None:
    readme = (ROOT / "README.md").read_text()
    text = readme[readme.index("\n## In CI: the GitHub Action\n") :]
    text = text[text.index("Outputs: ") : text.index("Inputs reach the scripts")]
    named = set(re.findall(r"`([a-z-]+)`", text))
    named |= {f"report-{kind}" for kind in ("json", "junit", "markdown")}  # `report-json|...`
    assert set(action()["outputs"]) <= named
