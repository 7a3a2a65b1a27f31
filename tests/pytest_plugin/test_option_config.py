"""`--modelgate CONFIG`: one item per check, each reading as the check did."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from outcomes import CORE, assert_consistent, check_outcomes, poison
from projects import Project

import modelgate.engine.check
import modelgate.pytest_plugin

pytest_plugins = ["pytester"]


def test_passing_candidate_one_item_per_check(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    real = modelgate.engine.check.check_candidate

    def counted(config: object, **kwargs: object) -> object:
        calls.append(config)
        return real(config, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(modelgate.engine.check, "check_candidate", counted)
    pytester.makepyfile(
        """
        def test_custom(modelgate_result):
            assert modelgate_result.verdict.value == "passed"
            assert modelgate_result.metrics.n_canaries == 240
        """
    )
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "-v")
    outcomes = check_outcomes(result)
    assert set(outcomes) >= CORE
    assert_consistent(outcomes)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*::test_custom PASSED*", "modelgate::accuracy PASSED*"])
    assert len(calls) == 1  # one gate run feeds every item and the fixture
    # what the run could not do well is said at the end (this project has no calibration)
    result.stdout.fnmatch_lines(["*modelgate notes*", "no churn calibration: *"])


def test_failing_candidate_reads_as_findings(pytester: pytest.Pytester, project: Project) -> None:
    poison(project)
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "-k", "stats")
    outcomes = check_outcomes(result)
    assert_consistent(outcomes)
    ran = {name for name, (_, outcome) in outcomes.items() if outcome != "deselected"}
    assert ran == {name for name in outcomes if name.startswith("stats.")}  # -k applies
    failed = {name for name, (_, outcome) in outcomes.items() if outcome == "failed"}
    assert {"stats.destination", "stats.mcnemar"} <= failed
    text = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*_ modelgate: stats.destination _*",
            "stats.destination: 1 cell(s) of the regression matrix exceed clean churn*",
            "- * canaries of class 'cat' that the blessed model got right * are now 'dog'*",
            "  test: *, p-value: * (alpha *)",
            "  blobs-*  label cat: cat -> dog  margin *",
        ]
    )
    assert "Traceback" not in text and "raise CheckFailed" not in text
    assert "pytest_plugin.py" not in text
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_junit_has_one_case_per_check(pytester: pytest.Pytester, project: Project) -> None:
    poison(project)
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "--junitxml=junit.xml")
    outcomes = check_outcomes(result)
    cases = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    by_name = {c.get("name"): c for c in cases if c.get("classname") == "modelgate"}
    assert set(by_name) == set(outcomes)
    for name, (status, _) in outcomes.items():
        assert (by_name[name].find("failure") is not None) == (status == "failed"), name
    failure = by_name["stats.destination"].find("failure")
    assert failure is not None and "are now 'dog'" in (failure.text or "")
    assert result.ret == 1


def test_warned_check_passes_with_a_warning(pytester: pytest.Pytester, project: Project) -> None:
    poison(project)
    config = project.write_config(
        project.config.read_text()
        + "policy:\n  accuracy: {max_drop: 1}\n  protected: {margin_collapse: 'off'}\n"
        + "  tests: {mcnemar: warn, per_class: 'off', destination: 'off', attraction: 'off'}\n"
    )
    result = pytester.runpytest("--modelgate", str(config))
    outcomes = check_outcomes(result)
    assert outcomes["stats.mcnemar"] == ("warned", "passed")
    assert outcomes["stats.destination"] == ("skipped", "skipped")
    assert_consistent(outcomes)
    assert result.parseoutcomes()["warnings"] == 1
    result.stdout.fnmatch_lines(["*ModelgateWarning: stats.mcnemar:*"])


def test_tag_budgets_get_items(pytester: pytest.Pytester, project: Project) -> None:
    config = project.write_config(
        project.config.read_text() + "policy:\n  tags: {protected: {max_negative_flips: 0}}\n"
    )
    result = pytester.runpytest("--modelgate", str(config))
    assert check_outcomes(result)["flips.tag.protected.negative"] == ("passed", "passed")
    assert result.ret == pytest.ExitCode.OK


def test_bad_config_is_a_usage_error(pytester: pytest.Pytester, project: Project) -> None:
    config = project.write_config("version: 1\nsuite: suite\nbaseline: b.json\ncandidat: x\n")
    result = pytester.runpytest("--modelgate", str(config))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: modelgate: {config.resolve()}:4: candidat: *"])
    assert "Traceback" not in result.stderr.str()


def test_gate_that_cannot_decide_fails_every_check(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "candidate.safetensors").unlink()
    result = pytester.runpytest("--modelgate", "modelgate.yaml")
    outcomes = check_outcomes(result)
    assert {outcome for _, outcome in outcomes.values()} == {"failed"}  # fail closed
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["modelgate could not decide: *model file not found*"])
    assert "Traceback" not in result.stdout.str()


def test_a_failing_check_without_an_item_still_fails_the_session(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never expected (every check is planned from the config), but never silent either."""
    monkeypatch.setattr(modelgate.pytest_plugin, "planned_checks", lambda config: ("waivers",))
    poison(project)
    result = pytester.runpytest("--modelgate", "modelgate.yaml")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*modelgate: checks without a test item*", "accuracy, *"])
