"""`modelgate init`: writes a project that validates, asks nothing, never overwrites silently."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelgate.cli import main
from modelgate.config import load_config
from modelgate.scaffold import init_project

FILES = (
    "modelgate.yaml",
    "waivers.yaml",
    "canaries/main/README.md",
    ".github/workflows/modelgate.yml",
)


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
    assert config.model.suite == "canaries/reviews"
    assert config.candidate.path == "out/model v2.safetensors"
    assert config.candidate.factory == "pkg.models:make"
    assert config.model.baseline == "baselines/reviews.json"
    assert config.model.calibration is None  # commented out until the controls exist
    text = (tmp_path / "modelgate.yaml").read_text()
    (tmp_path / "modelgate.yaml").write_text(text.replace("# calibration:", "calibration:"))
    calibrated = load_config(tmp_path / "modelgate.yaml")
    assert calibrated.model.calibration == "baselines/reviews.calibration.json"
    readme = (tmp_path / "canaries" / "reviews" / "README.md").read_text()
    assert "modelgate calibrate --control" in readme
    text = (tmp_path / "canaries" / "reviews" / "README.md").read_text()
    assert "--inputs canaries.jsonl" in text and "--modality text" in text


def test_generated_workflow_uses_the_action_safely(tmp_path: Path) -> None:
    init_project(tmp_path)
    workflow = yaml.safe_load((tmp_path / ".github/workflows/modelgate.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    steps = workflow["jobs"]["gate"]["steps"]
    checkout, gate = steps
    assert checkout["with"]["persist-credentials"] is False
    assert gate["uses"].startswith("modelgate/modelgate@v") and gate["id"] == "gate"
    assert gate["with"] == {"config": "modelgate.yaml"}


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
