"""The pytest plugin, driven through `pytester` as a user's own pytest run would use it."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest
from projects import BASE_CONFIG, CLASSES, FACTORY, Project, linear_weights, make_data, save_weights

import modelgate.engine.check
from modelgate.config import load_config
from modelgate.engine.bless import bless
from modelgate.engine.check import run_gate
from modelgate.pytest_plugin import CheckItem
from modelgate.suite.freeze import init_suite

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", autouse=True)
def _import_the_engine_first(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run the gate once before any in-process pytester run.

    pytester removes the modules an inner run imported when it ends; torch and scipy cannot be
    imported a second time in one interpreter, so they must already be loaded by then.
    """
    root = tmp_path_factory.mktemp("warm")
    x, labels = make_data(n=30)
    init_suite(
        root / "suite",
        name="warm",
        modality="tabular",
        inputs=x,
        labels=[CLASSES[c] for c in labels],
        classes=CLASSES,
        curated_by="tests",
        source="warm-up",
    )
    (root / "model.py").write_text(FACTORY)
    save_weights(root / "candidate.safetensors", linear_weights())
    (root / "waivers.yaml").write_text("version: 1\nwaivers: []\n")
    (root / "modelgate.yaml").write_text(BASE_CONFIG.lstrip())
    config = load_config(root / "modelgate.yaml")
    bless(config)
    run_gate(config)


def poison(project: Project) -> None:
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))


@pytest.fixture
def project(project: Project, pytester: pytest.Pytester) -> Project:
    """The blessed tiny project, moved into pytester's folder: a user's repository root."""
    shutil.copytree(project.root, pytester.path, dirs_exist_ok=True)
    return Project(root=pytester.path, config=pytester.path / "modelgate.yaml")


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--modelgate=CONFIG*", "*--modelgate-bless*"])


def test_idle_without_the_option_and_imports_no_torch(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_nothing_heavy_loaded(request):
            assert request.config.pluginmanager.has_plugin("modelgate")
            assert "torch" not in sys.modules and "modelgate.engine" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# How each check's status must show up in pytest: a warned check passes (with a warning).
OUTCOME = {"passed": "passed", "warned": "passed", "failed": "failed", "skipped": "skipped"}


def check_outcomes(result: pytest.RunResult) -> dict[str, tuple[str, str]]:
    """Check name -> (the check's status, the item's pytest outcome), for every check item.

    Read from the inner run itself, so the tests hold however many checks the engine has.
    """
    reprec = result.reprec  # type: ignore[attr-defined]
    statuses = {
        call.item.nodeid: call.item.check.status.value
        for call in reprec.getcalls("pytest_itemcollected")
        if isinstance(call.item, CheckItem)
    }
    outcomes = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        if report.nodeid in statuses and (report.when == "call" or report.outcome != "passed"):
            outcomes[report.nodeid] = report.outcome
    assert statuses and set(outcomes) <= set(statuses)
    return {
        nodeid.removeprefix("modelgate::"): (statuses[nodeid], outcomes.get(nodeid, "deselected"))
        for nodeid in statuses
    }


def assert_consistent(outcomes: dict[str, tuple[str, str]]) -> None:
    for name, (status, outcome) in outcomes.items():
        assert outcome in (OUTCOME[status], "deselected"), (name, status, outcome)


CORE = {"accuracy", "flips.protected", "stats.mcnemar", "stats.destination", "waivers"}


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


def test_bless_updates_the_baseline(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
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


def test_bless_refuses_a_failing_candidate(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    poison(project)
    before = (project.root / "baseline.json").read_text()
    result = pytester.runpytest("--modelgate", "modelgate.yaml", "--modelgate-bless")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: modelgate: not blessed: *the candidate fails the gate*"])
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


def test_bad_config_is_a_usage_error(pytester: pytest.Pytester, project: Project) -> None:
    config = project.write_config("version: 1\nsuite: suite\nbaseline: b.json\ncandidat: x\n")
    result = pytester.runpytest("--modelgate", str(config))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: modelgate: {config.resolve()}:4: candidat: *"])
    assert "Traceback" not in result.stderr.str()


def test_gate_that_cannot_decide_is_a_collection_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "candidate.safetensors").unlink()
    result = pytester.runpytest("--modelgate", "modelgate.yaml")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*modelgate could not decide: *model file not found*"])
    assert "Traceback" not in result.stdout.str()


def test_ini_key(pytester: pytest.Pytester, project: Project) -> None:
    pytester.makeini("[pytest]\nmodelgate_config = modelgate.yaml\n")
    result = pytester.runpytest("-q")
    assert set(check_outcomes(result)) >= CORE and result.ret == pytest.ExitCode.OK


def test_fixture_without_the_option_skips(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_custom(modelgate_result):\n    pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*modelgate_result needs --modelgate CONFIG*"])
