"""The public API (`modelgate.check`, `run_check`, `bless`): what the README shows, as it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from projects import Project, linear_weights, save_weights

import modelgate
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
