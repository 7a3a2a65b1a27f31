"""The GateResult a real check returns is the plain, typed, hashable record result.py promises:
waiver states and check names are enums, pictures and alphas are typed fields, no dicts."""

from __future__ import annotations

import dataclasses
from typing import Any

from projects import Project, linear_weights, save_weights

from modelgate.config import load_config
from modelgate.engine.check import run_gate
from modelgate.policy import alpha_plan
from modelgate.result import CheckName, GateResult, Status, WaiverState, budget_tag, tag_budget

WAIVERS = """\
version: 1
waivers:
  - {{canary: {used}, to: {to}, reason: relabelled, approved_by: alice}}
  - {{canary: {other}, to: dog, reason: nothing flipped, approved_by: bob}}
  - {{canary: {used}, to: {to}, reason: old, approved_by: carol, expires: 2020-01-01}}
"""


def no_dicts(value: Any, where: str = "result") -> None:
    """Walk the record: every value a frozen dataclass, tuple, enum or scalar."""
    assert not isinstance(value, (dict, list, set)), where
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            no_dicts(getattr(value, field.name), f"{where}.{field.name}")
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            no_dicts(item, f"{where}[{i}]")


def poisoned_result(project: Project) -> GateResult:
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    first = run_gate(load_config(project.config))
    flipped, quiet = (
        first.flips[0],
        next(
            i
            for i in (f"blobs-{n:03d}" for n in range(240))
            if i not in {f.id for f in first.flips}
        ),
    )
    (project.root / "waivers.yaml").write_text(
        WAIVERS.format(used=flipped.id, to=flipped.candidate, other=quiet)
    )
    return run_gate(load_config(project.config))


def test_a_real_result_is_typed_hashable_and_free_of_dicts(project: Project) -> None:
    result = poisoned_result(project)
    assert {w.reason: w.state for w in result.waivers} == {
        "relabelled": WaiverState.USED,
        "nothing flipped": WaiverState.UNUSED,
        "old": WaiverState.EXPIRED,
    }
    assert all(type(w.state) is WaiverState for w in result.waivers)
    assert {c.name for c in result.checks} >= set(CheckName) - {CheckName.DRIFT}
    plan = alpha_plan(load_config(project.config))
    shared = {c.name: c.alpha for c in result.checks if c.alpha is not None}
    ran = set(plan.enabled) - {CheckName.DRIFT}  # drift: no two blessings to compare yet
    assert shared == {name: plan.share_of(name) for name in ran}  # the alpha each was judged at
    assert result.failed_checks == tuple(c.name for c in result.checks if c.status is Status.FAILED)
    plain = dataclasses.replace(result, flips=tuple(result.flips))
    no_dicts(plain)
    assert hash(plain) == hash(dataclasses.replace(result, flips=tuple(result.flips)))
    assert not hasattr(result, "extras")


def test_budget_tag_undoes_tag_budget() -> None:
    for tag in ("protected", "a.b", "negative"):
        assert budget_tag(tag_budget(tag)) == tag
        assert budget_tag(tag_budget(tag, negative=True)) == tag
    assert budget_tag(CheckName.PROTECTED_BUDGET) is None and budget_tag("accuracy") is None
