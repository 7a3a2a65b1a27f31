"""Reading an inner pytest run: which check items ran, and with what outcome."""

from __future__ import annotations

import pytest
from projects import Project, linear_weights, save_weights

from modelgate.pytest_plugin import CheckItem, GateUndecided

# How each check's status must show up in pytest: a warned check passes (with a warning).
OUTCOME = {"passed": "passed", "warned": "passed", "failed": "failed", "skipped": "skipped"}
OUTCOME |= {"absent": "skipped", "undecided": "failed"}  # not run for this config; no result
CORE = {"accuracy", "flips.protected", "stats.mcnemar", "stats.destination", "waivers"}


def poison(project: Project) -> None:
    """A candidate that moves class cat toward dog: several checks fail."""
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))


def check_outcomes(result: pytest.RunResult) -> dict[str, tuple[str, str]]:
    """Check name -> (the check's status, the item's pytest outcome), for every check item.

    Read from the inner run itself, so the tests hold however many checks the engine has; a
    check the run did not report reads as status "absent", every check of a gate that could
    not decide as "undecided", and all of them as "unknown" when no check ran.
    """
    reprec = result.reprec  # type: ignore[attr-defined]
    items = [
        call.item
        for call in reprec.getcalls("pytest_itemcollected")
        if isinstance(call.item, CheckItem)
    ]
    outcomes = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        if report.nodeid.startswith("modelgate::") and (
            report.when == "call" or report.outcome != "passed"
        ):
            outcomes[report.nodeid] = report.outcome
    ids = {item.nodeid for item in items}
    assert ids and set(outcomes) <= ids
    statuses = {item.nodeid: _status(item) if outcomes else "unknown" for item in items}
    return {
        nodeid.removeprefix("modelgate::"): (statuses[nodeid], outcomes.get(nodeid, "deselected"))
        for nodeid in ids
    }


def _status(item: CheckItem) -> str:
    try:
        check = item.check
    except GateUndecided:
        return "undecided"
    return check.status.value if check is not None else "absent"


def assert_consistent(outcomes: dict[str, tuple[str, str]]) -> None:
    for name, (status, outcome) in outcomes.items():
        assert outcome in (OUTCOME[status], "deselected"), (name, status, outcome)
