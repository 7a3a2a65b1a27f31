"""`--modelgate-candidate PATH`: gate another model file than the config's, as `check
--candidate` does; the path is relative to the folder pytest runs in."""

from __future__ import annotations

import json

import pytest
from outcomes import assert_consistent, check_outcomes
from projects import Project, linear_weights, save_weights

pytest_plugins = ["pytester"]


def test_gates_the_given_model(pytester: pytest.Pytester, project: Project) -> None:
    (project.root / "models").mkdir()
    save_weights(project.root / "models" / "new.safetensors", linear_weights(shift=(0, 1, 2.5)))
    result = pytester.runpytest(
        "--modelgate", "modelgate.yaml", "--modelgate-candidate", "models/new.safetensors"
    )
    outcomes = check_outcomes(result)
    assert_consistent(outcomes)
    assert outcomes["stats.destination"] == ("failed", "failed")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((project.root / "reports" / "modelgate-report.json").read_text())
    assert report["candidate"]["path"].endswith("new.safetensors")
    # the config's own candidate is untouched, and still passes
    assert pytester.runpytest("--modelgate", "modelgate.yaml").ret == pytest.ExitCode.OK


def test_relative_to_the_current_folder(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / "sub").mkdir()
    monkeypatch.chdir(project.root / "sub")
    result = pytester.runpytest(
        "--modelgate", "../modelgate.yaml", "--modelgate-candidate", "../candidate.safetensors"
    )
    assert result.ret == pytest.ExitCode.OK


def test_missing_file_fails_closed(pytester: pytest.Pytester, project: Project) -> None:
    result = pytester.runpytest(
        "--modelgate", "modelgate.yaml", "--modelgate-candidate", "nowhere.safetensors"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # every check fails, none passes
    assert "passed" not in result.parseoutcomes()
    result.stdout.fnmatch_lines(["modelgate could not decide: *nowhere.safetensors*not found*"])
    assert "Traceback" not in result.stdout.str()
