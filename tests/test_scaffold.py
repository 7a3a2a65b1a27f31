"""`modelgate init`: writes a project that validates, asks nothing, never overwrites silently,
pins the action by commit SHA (or by a placeholder no ref can match), ignores what the gate
writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelgate.cli import main
from modelgate.config import load_config
from modelgate.scaffold import SHA_PLACEHOLDER, init_project

FILES = (
    "modelgate.yaml",
    "waivers.yaml",
    "canaries/main/README.md",
    ".github/workflows/modelgate.yml",
    ".gitignore",
)
SHA = "0123456789abcdef0123456789abcdef01234567"
# What git refuses in a ref name (git check-ref-format): no branch or tag can ever be named so.
_NOT_IN_A_REF = (" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{")


def test_init_writes_a_valid_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--dir", str(tmp_path)]) == 0
    for name in FILES:
        assert (tmp_path / name).is_file(), name
    assert "wrote" in capsys.readouterr().out
    config = load_config(tmp_path / "modelgate.yaml")
    assert config.suite_path == (tmp_path / "canaries" / "main").resolve()
    assert config.candidate.path == "models/candidate.safetensors"
    assert config.candidate.factory == "model.py:build" and config.candidate.allow_code is False
    waivers = yaml.safe_load((tmp_path / "waivers.yaml").read_text())
    assert waivers == {"version": 1, "waivers": []}
    readme = (tmp_path / "canaries" / "main" / "README.md").read_text()
    assert "modelgate suite init canaries/main --inputs canaries.npy" in readme


def test_flags_reach_the_files(tmp_path: Path) -> None:
    init_project(
        tmp_path,
        suite="reviews",
        modality="text",
        candidate="out/model v2.safetensors",
        factory="pkg.models:make",
    )
    config = load_config(tmp_path / "modelgate.yaml")
    assert config.settings.suite == "canaries/reviews"
    assert config.candidate.path == "out/model v2.safetensors"
    assert config.candidate.factory == "pkg.models:make"
    assert config.settings.baseline == "baselines/reviews.json"
    assert config.settings.calibration is None  # commented out until the controls exist
    text = (tmp_path / "modelgate.yaml").read_text()
    (tmp_path / "modelgate.yaml").write_text(text.replace("# calibration:", "calibration:"))
    calibrated = load_config(tmp_path / "modelgate.yaml")
    assert calibrated.settings.calibration == "baselines/reviews.calibration.json"
    readme = (tmp_path / "canaries" / "reviews" / "README.md").read_text()
    assert "modelgate calibrate --control" in readme
    text = (tmp_path / "canaries" / "reviews" / "README.md").read_text()
    assert "--inputs canaries.jsonl" in text and "--modality text" in text


def workflow_steps(root: Path) -> list[dict[str, object]]:
    workflow = yaml.safe_load((root / ".github/workflows/modelgate.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    steps: list[dict[str, object]] = workflow["jobs"]["gate"]["steps"]
    return steps


def test_generated_workflow_uses_the_action_safely(tmp_path: Path) -> None:
    init_project(tmp_path, action_sha=SHA)
    checkout, gate = workflow_steps(tmp_path)
    assert checkout["with"] == {"persist-credentials": False}
    assert str(checkout["uses"]).partition("@")[2].isalnum()  # a full SHA, not a tag
    assert gate["uses"] == f"modelgate/modelgate@{SHA}" and gate["id"] == "gate"
    assert gate["with"] == {"config": "modelgate.yaml"}


def test_unpinned_workflow_fails_until_edited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No tag under a comment that says "pin to the SHA": a ref that can never resolve."""
    assert main(["init", "--dir", str(tmp_path)]) == 0
    _, gate = workflow_steps(tmp_path)
    ref = str(gate["uses"]).removeprefix("modelgate/modelgate@")
    assert ref == SHA_PLACEHOLDER and any(bad in ref for bad in _NOT_IN_A_REF)
    assert "full-commit-SHA" in ref
    assert "pin the action in" in capsys.readouterr().out


@pytest.mark.parametrize("sha", ["v0.1.0", "main", SHA[:12], SHA.upper(), SHA + "0"])
def test_action_sha_must_be_a_full_commit_sha(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sha: str
) -> None:
    assert main(["init", "--dir", str(tmp_path), "--action-sha", sha]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "full 40-character commit SHA" in err
    assert not any(tmp_path.iterdir())


def test_gitignore_for_the_ledger_and_reports(tmp_path: Path) -> None:
    init_project(tmp_path)
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    config = load_config(tmp_path / "modelgate.yaml")
    assert ".modelgate/" in lines and f"{config.settings.output.dir}/" in lines


@pytest.mark.parametrize(
    ("existing", "added"),
    [
        ("*.pyc\n", [".modelgate/", "modelgate-report/", "modelgate-parts/"]),
        ("*.pyc\n.modelgate\n", ["modelgate-report/", "modelgate-parts/"]),  # slash or not
        ("modelgate-report/\n.modelgate/\nmodelgate-parts\n", []),
    ],
)
def test_existing_gitignore_gets_only_the_missing_lines(
    tmp_path: Path, existing: str, added: list[str]
) -> None:
    (tmp_path / ".gitignore").write_text(existing)
    assert main(["init", "--dir", str(tmp_path)]) == 0  # not refused: it is added to
    text = (tmp_path / ".gitignore").read_text()
    assert text.startswith(existing)
    new = [line for line in text[len(existing) :].splitlines() if line and line[0] != "#"]
    assert new == added


def test_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "waivers.yaml").write_text("mine\n")
    assert main(["init", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already exists" in err and "--force" in err
    assert (tmp_path / "waivers.yaml").read_text() == "mine\n"
    assert not (tmp_path / "modelgate.yaml").exists()  # nothing written at all
    assert main(["init", "--dir", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "waivers.yaml").read_text() != "mine\n"


@pytest.mark.parametrize("suite", ["../escape", "a/b", "", ".hidden"])
def test_suite_name_must_be_a_plain_folder_name(tmp_path: Path, suite: str) -> None:
    assert main(["init", "--dir", str(tmp_path), "--suite", suite]) == 2
    assert not any(tmp_path.iterdir())
