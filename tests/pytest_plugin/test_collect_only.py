"""Collection reads the config and nothing else: `--collect-only` and `-m "not modelgate"`
list or skip the checks without loading, let alone running, the model."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from projects import Project

pytest_plugins = ["pytester"]

Runs = Callable[[], list[tuple[str, str]]]


def test_collect_only_lists_the_checks_without_running(
    pytester: pytest.Pytester, project: Project, ledger_runs: Runs
) -> None:
    (project.root / "candidate.safetensors").unlink()  # loading it would fail
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["modelgate::accuracy", "modelgate::flips.protected", "modelgate::stats.destination"]
    )
    assert "could not decide" not in result.stdout.str()
    assert ledger_runs() == [("bless", "blessed")]  # no check recorded
    assert not (project.root / "reports").exists()


def test_deselected_checks_do_not_run_the_gate(
    pytester: pytest.Pytester, project: Project, ledger_runs: Runs
) -> None:
    (project.root / "candidate.safetensors").unlink()
    pytester.makepyfile("def test_mine():\n    pass\n")
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "-m", "not modelgate")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 1 and outcomes["deselected"] >= 5
    assert ledger_runs() == [("bless", "blessed")]


def test_the_gate_runs_at_the_first_check(
    pytester: pytest.Pytester, project: Project, ledger_runs: Runs
) -> None:
    """A test that runs before the checks sees no gate run yet; the checks then run it once."""
    pytester.makepyfile(
        test_first="""
        from modelgate.history.ledger import open_ledger

        def test_before_the_gate():
            with open_ledger(".modelgate/history.sqlite", create=False) as ledger:
                assert len(ledger.runs()) == 1  # the bless only
        """
    )
    result = pytester.runpytest("--modelgate", "modelgate.yaml")
    assert result.ret == pytest.ExitCode.OK
    assert ledger_runs() == [("bless", "blessed"), ("check", "passed")]
