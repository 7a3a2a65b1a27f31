"""Collection names the checks from the config alone: every `CheckName` a run of that config can
report has an item, so a new check cannot run without one."""

from __future__ import annotations

import pytest
from projects import Project

from modelgate.config import load_config
from modelgate.pytest_plugin import planned_checks
from modelgate.result import CheckName, tag_budget

pytest_plugins = ["pytester"]
TRIGGERS = {CheckName.TRIGGERS, CheckName.INVERSION}


@pytest.mark.parametrize(
    ("extra", "left_out"),
    [
        ("probes: default\n", set()),
        ("probes: off\n", TRIGGERS),
        ("probes: default\nhistory: {enabled: false}\n", {CheckName.DRIFT}),
    ],
)
def test_every_check_the_config_runs_has_an_item(
    project: Project, extra: str, left_out: set[CheckName]
) -> None:
    text = project.config.read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("probes:"))
    project.config.write_text(text + "\n" + extra)
    planned = set(planned_checks(load_config(project.config)))
    assert planned == {str(name) for name in CheckName} - {str(n) for n in left_out}


def test_tag_budgets_are_planned(project: Project) -> None:
    project.write_config(
        project.config.read_text()
        + "policy:\n  tags:\n    watched: {max_flips: 1, max_negative_flips: 0}\n"
    )
    planned = planned_checks(load_config(project.config))
    assert {tag_budget("watched"), tag_budget("watched", negative=True)} <= set(planned)
    assert list(planned) == sorted(planned)
