"""`bless` says what it did once: the engine returns a BlessOutcome and prints nothing; the front
end renders it (`report/bless.py`), so the summary is never written twice."""

from __future__ import annotations

import pytest
from projects import Project, linear_weights, save_weights

from modelgate.cli import main
from modelgate.config import load_config
from modelgate.engine.bless import bless


@pytest.mark.parametrize("first", [True, False], ids=["first-baseline", "re-bless"])
def test_the_engine_prints_nothing(
    project: Project, capfd: pytest.CaptureFixture[str], first: bool
) -> None:
    if first:
        (project.root / "baseline.json").unlink()
    outcome = bless(load_config(project.config))
    assert outcome.path == project.root / "baseline.json"
    assert (outcome.previous is None) == first
    assert capfd.readouterr() == ("", "")


def test_the_cli_prints_the_summary_once(
    project: Project, capfd: pytest.CaptureFixture[str]
) -> None:
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 0.3)))
    assert main(["bless", "-c", str(project.config), "--force", "--reason", "r"]) == 0
    out, err = capfd.readouterr()
    summary = [line for line in (out + err).splitlines() if line.startswith("blessed")]
    assert len(summary) == 1 and "changed label" in summary[0], out + err
