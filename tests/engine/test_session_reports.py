"""An earlier run's reports never outlive the start of the next run, however that run ends."""

from __future__ import annotations

import pytest
from projects import Project

from modelgate.engine import check as check_module
from modelgate.engine.session import run_check


def test_the_earlier_reports_are_gone_before_the_model_runs(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_check(project.config)
    reports = sorted((project.root / "reports").iterdir())
    assert reports

    def killed(*_: object, **__: object) -> None:  # as if the process died here (OOM, _exit)
        assert not any(p.exists() for p in reports), "an earlier verdict is still there"
        raise SystemExit(137)

    monkeypatch.setattr(check_module, "check_candidate", killed)
    with pytest.raises(SystemExit):
        run_check(project.config)
