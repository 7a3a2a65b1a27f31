"""`action.yml` and the workflows, checked structurally (actionlint is not installable offline).

The rules are the ones that keep a CI gate from becoming an attack path: no expression is
pasted into a shell script (inputs travel through `env:`), third-party actions are pinned to a
commit SHA, tokens are read-only unless a job needs more, and the job that can write to pull
requests never runs their code.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from modelgate.action import SHARD_OUTPUTS
from modelgate.report import github
from modelgate.result import Verdict
from modelgate.scaffold import init_project

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    if True in doc:  # YAML 1.1 reads the key `on` as the boolean true
        doc["on"] = doc.pop(True)
    return doc


def steps_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in doc:
        return list(doc["runs"].get("steps", []))
    return [step for job in doc.get("jobs", {}).values() for step in job.get("steps", [])]


def problems(doc: dict[str, Any], allow_unpinned: tuple[str, ...] = ()) -> list[str]:
    """Everything wrong with one workflow or action document; empty when it is fine."""
    found = []
    for step in steps_of(doc):
        name = step.get("name") or step.get("uses") or step.get("run", "")[:30]
        if "${{" in str(step.get("run", "")):
            found.append(f"{name}: expression inside run: (pass it through env:)")
        uses = step.get("uses") or "./"
        if not uses.startswith(("./", *allow_unpinned)) and not _PINNED.match(uses):
            found.append(f"{name}: {uses} is not pinned to a commit SHA")
        if "run" in step and "shell" not in step and "runs" in doc:
            found.append(f"{name}: a composite action step needs shell:")
    if "runs" not in doc:
        triggers = doc.get("on", {})
        if "pull_request_target" in (triggers if isinstance(triggers, dict) else [triggers]):
            found.append("pull_request_target runs fork code with a write token")
        top = doc.get("permissions")
        if not isinstance(top, dict) or any(v != "read" for v in top.values()):
            found.append(f"top-level permissions must be read-only, not {top!r}")
        for job_name, job in doc.get("jobs", {}).items():
            if "timeout-minutes" not in job:
                found.append(f"{job_name}: no timeout-minutes")
    return found


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_safe(path: Path) -> None:
    assert problems(load(path)) == []


def test_the_checker_catches_unsafe_workflows() -> None:
    bad = """
    on: pull_request_target
    permissions: write-all
    jobs:
      a:
        steps:
          - uses: actions/checkout@v4
          - run: echo "${{ github.event.pull_request.title }}"
    """
    found = problems(load_text(bad))
    assert len(found) == 5, found


def load_text(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text.replace("\n    ", "\n"))
    doc["on"] = doc.pop(True)
    return doc


def test_action_inputs_reach_the_script_only_through_env() -> None:
    action = load(ROOT / "action.yml")
    assert action["runs"]["using"] == "composite"
    assert problems(action) == []
    text = (ROOT / "action.yml").read_text()
    used = set(re.findall(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", text))
    assert used == set(action["inputs"])  # every input is used, none is undeclared
    steps = {s.get("id") or s["name"]: s for s in steps_of(action)}
    gate_env = steps["gate"]["env"]
    script = (ROOT / "modelgate" / "action.py").read_text()
    read = set(re.findall(r"\"(INPUT_[A-Z_]+)\"", script))
    assert {k for k in gate_env if k.startswith("INPUT_")} == read


def test_action_outputs_are_the_scripts_outputs() -> None:
    action = load(ROOT / "action.yml")
    fake = SimpleNamespace(
        verdict=Verdict.PASSED,
        exit_code=0,
        findings=(),
        checks=(),
        failed_checks=(),
        metrics=SimpleNamespace(unexplained_flips=0),
    )
    produced = set(github.outputs(fake, {})) | {"report-dir"}  # type: ignore[arg-type]
    assert set(action["outputs"]) == produced | set(SHARD_OUTPUTS)
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.gate.outputs.{name} }}}}"


def test_action_installs_itself_and_uploads_even_on_failure() -> None:
    steps = {s["name"]: s for s in steps_of(load(ROOT / "action.yml"))}
    install = steps["Install modelgate"]["run"]
    assert '"$GITHUB_ACTION_PATH"' in install and '--index-url "$TORCH_INDEX_URL"' in install
    # CPU torch unless the user asks otherwise (tests/test_action.py runs this script)
    inputs = load(ROOT / "action.yml")["inputs"]
    assert inputs["torch-index-url"]["default"] == "https://download.pytorch.org/whl/cpu"
    upload = steps["Upload the report"]
    assert upload["if"].startswith("always()") and upload["uses"].startswith(
        "actions/upload-artifact@"
    )


def test_selftest_covers_clean_and_poisoned_candidates() -> None:
    jobs = load(ROOT / ".github/workflows/action-selftest.yml")["jobs"]
    clean = next(s for s in jobs["clean"]["steps"] if s.get("uses") == "./")
    assert clean["with"]["config"] == "examples/digits/modelgate.yaml"
    poisoned = next(s for s in jobs["poisoned"]["steps"] if s.get("uses") == "./")
    assert poisoned["with"]["candidate"].endswith("poisoned.safetensors")
    assert poisoned["with"]["fail-on-findings"] == "false"
    checks = [s for s in jobs["poisoned"]["steps"] if "verdict" in str(s.get("if", ""))]
    assert checks and "steps.gate.outputs.verdict != 'failed'" in checks[0]["if"]
    for path in ("examples/digits/modelgate.yaml", poisoned["with"]["candidate"]):
        assert (ROOT / path).is_file(), path


def test_selftest_runs_a_sharded_matrix_and_its_merge() -> None:
    jobs = load(ROOT / ".github/workflows/action-selftest.yml")["jobs"]
    shard = next(s for s in jobs["shard"]["steps"] if s.get("uses") == "./")
    entries = jobs["shard"]["strategy"]["matrix"]["shard"]
    assert shard["with"]["shard"] == f"${{{{ matrix.shard }}}}/{len(entries)}"
    assert jobs["merge"]["needs"] == "shard"
    merge = next(s for s in jobs["merge"]["steps"] if s.get("uses") == "./")
    assert merge["with"]["config"] == shard["with"]["config"]
    assert merge["with"]["merge"] == "modelgate-parts"


def test_pr_comment_workflow_never_runs_pr_code() -> None:
    doc = load(ROOT / ".github/workflows/pr-comment.yml")
    assert set(doc["on"]) == {"workflow_run"}
    (job,) = doc["jobs"].values()
    assert job["permissions"]["pull-requests"] == "write"
    for step in job["steps"]:
        assert "run" not in step
        assert not step["uses"].startswith("actions/checkout")


def test_ci_runs_the_projects_test_script() -> None:
    jobs = load(ROOT / ".github/workflows/ci.yml")["jobs"]
    runs = [s.get("run", "") for job in jobs.values() for s in job["steps"]]
    assert any("bash .ci/run" in r for r in runs) and any("ruff check" in r for r in runs)


def test_scaffolded_workflow_is_safe(tmp_path: Path) -> None:
    init_project(tmp_path)
    doc = load(tmp_path / ".github/workflows/modelgate.yml")
    assert problems(doc, allow_unpinned=("modelgate/modelgate@",)) == []


README = (ROOT / "README.md").read_text()
PINNED_ACTION = "OWNER/modelgate@"  # the README's placeholder for the reviewed commit SHA


def readme_workflows() -> dict[str, dict[str, Any]]:
    """Every workflow in the README's ```yaml blocks, by its `name:`."""
    blocks = re.findall(r"```yaml\n(.*?)\n```", README, re.S)
    docs = [yaml.safe_load(block) for block in blocks if re.search(r"^jobs:", block, re.M)]
    return {doc["name"]: doc for doc in docs}


def action_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps_of(doc) if str(s.get("uses", "")).startswith(PINNED_ACTION)]


def test_readme_workflows_are_safe_and_use_only_real_inputs() -> None:
    inputs = set(load(ROOT / "action.yml")["inputs"])
    workflows = readme_workflows()
    assert {"modelgate", "modelgate (sharded)"} <= set(workflows)
    for name, doc in workflows.items():
        if True in doc:
            doc["on"] = doc.pop(True)
        assert problems(doc, allow_unpinned=(PINNED_ACTION,)) == [], name
        for step in action_steps(doc):
            assert set(step.get("with", {})) <= inputs, (name, step["with"])


def test_readme_sharded_workflow_is_a_matrix_and_an_artifact_merge() -> None:
    """Shard jobs upload each part's files; the merge job downloads them into one folder and
    gives it to the action's `merge:` (the README's "Scaling out" example)."""
    doc = readme_workflows()["modelgate (sharded)"]
    assert set(doc["jobs"]) == {"shard", "merge"}
    shard_job, merge_job = doc["jobs"]["shard"], doc["jobs"]["merge"]
    assert merge_job["needs"] == "shard"
    (shard_step,) = action_steps({"jobs": {"shard": shard_job}})
    matrix = shard_job["strategy"]["matrix"]["shard"]
    assert shard_step["with"]["shard"] == f"${{{{ matrix.shard }}}}/{len(matrix)}"
    upload = next(s for s in shard_job["steps"] if "upload-artifact@" in s.get("uses", ""))
    assert upload["with"]["path"] == f"${{{{ steps.{shard_step['id']}.outputs.part-files }}}}"
    assert upload["with"]["name"] == "modelgate-part-${{ matrix.shard }}"
    download = next(s for s in merge_job["steps"] if "download-artifact@" in s.get("uses", ""))
    assert download["with"]["pattern"] == "modelgate-part-*"
    assert download["with"]["merge-multiple"] is True
    (merge_step,) = action_steps({"jobs": {"merge": merge_job}})
    assert merge_step["with"]["merge"] == download["with"]["path"]
    assert merge_job["steps"].index(download) < merge_job["steps"].index(merge_step)
