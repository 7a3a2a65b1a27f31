"""`--modelgate-bless`: record the candidate as the new baseline when the first check runs."""

from __future__ import annotations

import pytest
from outcomes import assert_consistent, check_outcomes, poison
from projects import Project, linear_weights, save_weights

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _workstation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)


def test_bless_updates_the_baseline(pytester: pytest.Pytester, project: Project) -> None:
    import torch

    weights = linear_weights()
    weights["bias"] = torch.tensor([0.3, 0.0, -0.3])  # moves two canaries, passes the gate
    save_weights(project.root / "candidate.safetensors", weights)
    baseline = project.root / "baseline.json"
    before = baseline.read_text()
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "--modelgate-bless")
    assert result.ret == pytest.ExitCode.OK
    assert_consistent(check_outcomes(result))
    result.stdout.fnmatch_lines(
        [
            "*modelgate bless*",
            "blessed: *baseline.json (2 canaries changed label; canary accuracy *)",
            "  blobs-*",
        ]
    )
    assert baseline.read_text() != before
    assert not (project.root / "reports").exists()  # like `modelgate bless`: no report


def test_bless_refuses_a_failing_candidate(pytester: pytest.Pytester, project: Project) -> None:
    poison(project)
    before = (project.root / "baseline.json").read_text()
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "--modelgate-bless")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["modelgate: not blessed: *the candidate fails the gate*"])
    assert "Traceback" not in result.stdout.str()
    assert (project.root / "baseline.json").read_text() == before


def test_collect_only_blesses_nothing(pytester: pytest.Pytester, project: Project) -> None:
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 0.1)))
    before = (project.root / "baseline.json").read_text()
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "--modelgate-bless", "--co")
    assert result.ret == pytest.ExitCode.OK
    assert (project.root / "baseline.json").read_text() == before


def test_bless_refused_on_ci(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    before = (project.root / "baseline.json").read_text()
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "--modelgate-bless")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--modelgate-bless is refused when CI is set*"])
    assert (project.root / "baseline.json").read_text() == before
