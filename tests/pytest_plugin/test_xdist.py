"""Under pytest-xdist the controller runs the gate once, before any test is handed out, and
every worker reads its result: one ledger entry, one report set, whatever `-n` is."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from outcomes import poison
from projects import Project

pytest_plugins = ["pytester"]

pytest.importorskip("xdist")
Runs = Callable[[], list[tuple[str, str]]]
USER_TESTS = """
def test_custom(modelgate_result):
    assert modelgate_result.metrics.n_canaries == 240

def test_plain():
    pass
"""


def run_xdist(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "--modelgate", "modelgate.yaml", *args
    )


def test_one_gate_run_for_all_workers(
    pytester: pytest.Pytester, project: Project, ledger_runs: Runs
) -> None:
    pytester.makepyfile(USER_TESTS)
    result = run_xdist(pytester, "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    # one pattern at a time: the workers report in whatever order they finish
    for line in ("*PASSED modelgate::accuracy*", "*PASSED modelgate::waivers*"):
        result.stdout.fnmatch_lines([line])
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 7 and "failed" not in outcomes
    assert ledger_runs() == [("bless", "blessed"), ("check", "passed")]  # not one per worker
    assert (project.root / "reports" / "modelgate-report.json").is_file()
    result.stdout.fnmatch_lines(["*modelgate notes*", "no churn calibration: *"])
    assert "checks without a test item" not in result.stdout.str()  # the controller knows them


def test_findings_reach_the_workers(
    pytester: pytest.Pytester, project: Project, ledger_runs: Runs
) -> None:
    poison(project)
    result = run_xdist(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*_ modelgate: stats.destination _*",
            "stats.destination: 1 cell(s) of the regression matrix exceed clean churn*",
        ]
    )
    assert ledger_runs() == [("bless", "blessed"), ("check", "failed")]


def test_deselected_checks_run_no_gate(
    pytester: pytest.Pytester, project: Project, ledger_runs: Runs
) -> None:
    pytester.makepyfile(USER_TESTS)
    result = run_xdist(pytester, "-m", "not modelgate", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 1 and outcomes["skipped"] == 1  # the fixture skips, says why
    result.stdout.fnmatch_lines(["*no modelgate item was selected*"])
    assert ledger_runs() == [("bless", "blessed")]


def test_undecided_gate_fails_every_check_on_every_worker(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "candidate.safetensors").unlink()
    result = run_xdist(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "passed" not in result.parseoutcomes()
    result.stdout.fnmatch_lines(["modelgate could not decide: *model file not found*"])
    assert "Traceback" not in result.stdout.str()


def test_bless_runs_once(
    pytester: pytest.Pytester,
    project: Project,
    ledger_runs: Runs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = run_xdist(pytester, "--modelgate-bless")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["*modelgate bless*", "blessed: *baseline.json (0 canaries *"])
    assert ledger_runs() == [("bless", "blessed"), ("bless", "blessed")]


def test_the_handoff_file_holds_the_whole_result(project: Project, tmp_path: Path) -> None:
    """Workers read JSON, never pickle, and get the controller's GateResult back field for field."""
    from modelgate.config import load_config
    from modelgate.engine.check import run_gate
    from modelgate.pytest_plugin import Shared, _read_shared, _write_shared

    poison(project)
    result = run_gate(load_config(project.config))
    assert result.flips and result.findings  # something in every nested record
    path = tmp_path / "shared.json"
    _write_shared(path, Shared(result=result))
    assert path.read_bytes().startswith(b"{")
    back = _read_shared(path)
    assert back.result is not None and back.error is None and back.ran
    assert back.result == dataclasses.replace(result, flips=tuple(result.flips))
    _write_shared(path, Shared(error="modelgate could not decide: x", ran=False))
    assert _read_shared(path) == Shared(error="modelgate could not decide: x", ran=False)
