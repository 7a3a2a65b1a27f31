"""The public API (`modelgate.check`, `run_check`, `bless`): what the README shows, as it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from projects import Project, linear_weights, save_weights

import modelgate
from modelgate.cli import main
from modelgate.errors import ModelgateError
from modelgate.result import CheckName, Verdict


def test_import_is_instant_and_the_api_loads_on_first_use() -> None:
    code = (
        "import sys, modelgate; loaded = 'torch' in sys.modules or 'modelgate.api' in sys.modules;"
        " modelgate.check; print(loaded, 'modelgate.api' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
    with pytest.raises(AttributeError):
        modelgate.no_such_thing  # noqa: B018


def test_check_writes_the_reports_and_returns_the_result(project: Project) -> None:
    result = modelgate.check(project.config)
    assert result.verdict is Verdict.PASSED and result.exit_code == 0
    assert sorted(p.name for p in (project.root / "reports").iterdir()) == [
        "modelgate-junit.xml",
        "modelgate-report.json",
        "modelgate-report.md",
    ]
    # Every check that shares policy.alpha says the alpha its p-values were compared with.
    shared = [c for c in result.checks if c.name == CheckName.MCNEMAR]
    assert shared and shared[0].alpha is not None and 0 < shared[0].alpha < 0.05


def test_a_candidate_file_and_no_reports(project: Project) -> None:
    poisoned = project.root / "poisoned.safetensors"
    save_weights(poisoned, linear_weights(shift=(0, 1, 2.5)))
    result = modelgate.check(project.config, poisoned, reports=False)
    assert result.verdict is Verdict.FAILED
    assert not (project.root / "reports").exists()


def test_run_check_says_where_each_report_went(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    run = modelgate.run_check(project.config, reports=modelgate.ReportRequest(folder=out))
    assert run.report_dir == out
    assert {fmt: path.parent for fmt, path in run.reports.items()} == {
        "json": out,
        "junit": out,
        "markdown": out,
    }


def test_bless_records_the_candidate(project: Project) -> None:
    outcome = modelgate.bless(project.config)
    assert outcome.path == project.root / "baseline.json"
    assert outcome.previous is not None and outcome.changed == ()


def test_an_undecided_check_raises_and_leaves_no_report(project: Project) -> None:
    modelgate.check(project.config)
    (project.root / "candidate.safetensors").write_bytes(b"not a model")
    with pytest.raises(ModelgateError) as caught:
        modelgate.check(project.config)
    assert "candidate.safetensors" in caught.value.one_line()
    assert list((project.root / "reports").iterdir()) == []


def test_every_public_function_is_fully_annotated() -> None:
    """What mypy checks a caller against: every parameter and return typed, and every type
    resolvable at run time too (no forward reference to a name the module lacks)."""
    import inspect
    import typing

    from modelgate import api

    assert sorted(modelgate.__all__) == sorted([*api.__all__, "__version__"])
    functions = [
        getattr(api, name) for name in api.__all__ if inspect.isfunction(getattr(api, name))
    ]
    assert {f.__name__ for f in functions} == {"check", "run_check", "bless", "calibrate"}
    for function in functions:
        signature = inspect.signature(function)
        assert signature.return_annotation is not inspect.Signature.empty, function.__name__
        for parameter in signature.parameters.values():
            assert parameter.annotation is not inspect.Parameter.empty, parameter.name
        typing.get_type_hints(function)
    assert (Path(api.__file__).parent / "py.typed").is_file()


def readme_api_example() -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Python API") :]
    return section[section.index("```python\n") + 10 : section.index("```\n", 10)]


def test_the_readme_example_runs(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every call of the README's Python API block, as written, on a tiny project."""
    (project.root / "models").mkdir()
    save_weights(project.root / "models" / "retrained.safetensors", linear_weights((0, 1, 2.5)))
    (project.root / "ctl").mkdir()
    for n, shift in enumerate([(0, 1, 0.2), (1, 2, -0.2)], start=1):
        save_weights(project.root / "ctl" / f"seed{n}.safetensors", linear_weights(shift=shift))
    # A config with a calibration record, as `calibrate` needs; the example then re-makes it
    # after its bless (a record belongs to one baseline).
    project.config.write_text(project.config.read_text() + "calibration: calib.json\n")
    controls = [str(project.root / "ctl" / f"seed{n}.safetensors") for n in (1, 2)]
    assert main(["calibrate", "-c", str(project.config), "--control", *controls]) == 0
    before = (project.root / "calib.json").read_bytes()
    monkeypatch.chdir(project.root)
    namespace: dict[str, object] = {}
    exec(compile(readme_api_example(), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert isinstance(result, modelgate.GateResult) and result.exit_code == 1
    printed = capsys.readouterr().out.splitlines()
    assert "failed 1" in printed  # as the comment says
    run = namespace["run"]
    assert isinstance(run, modelgate.CheckRun) and set(run.reports) == {"json", "junit", "markdown"}
    assert (project.root / "out" / "modelgate-report.json").is_file()
    assert (project.root / "calib.json").read_bytes() != before  # made for the new baseline
