"""How `policy.alpha` is shared: every enabled test gets a fixed share (weighted Bonferroni)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modelgate.config import load_config
from modelgate.policy import alpha_plan
from modelgate.result import CheckName

CONFIG = """
    version: 1
    suite: s
    candidate: c.pt
    baseline: b.json
    policy: {alpha: 0.06, tests: {attraction: "off"}}
"""


def test_alpha_is_split_over_every_enabled_test(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(CONFIG))
    config = load_config(path)
    # mcnemar, per_class, destination, margin_collapse, reversal, the two trigger checks, drift
    assert alpha_plan(config).enabled == (
        "stats.mcnemar",
        "stats.per_class",
        "stats.destination",
        "stats.margin_collapse",
        "stats.reversal",
        "probes.triggers",
        "probes.inversion",
        "drift",
    )
    # eight tests, the reversal test of weight 2: nine shares
    plan = alpha_plan(config)
    assert plan.share == pytest.approx(0.06 / 9)
    assert plan.share_of(CheckName.REVERSAL) == pytest.approx(2 * 0.06 / 9)
    assert plan.share_of(CheckName.MCNEMAR) == pytest.approx(0.06 / 9)
    assert sum(plan.share_of(name) for name in plan.enabled) == pytest.approx(0.06)


def test_tests_that_never_run_take_no_share(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(CONFIG) + "probes: 'off'\nhistory: {enabled: false}\n")
    assert alpha_plan(load_config(path)).share == pytest.approx(0.06 / 6)
    warn = textwrap.dedent(CONFIG).replace('{attraction: "off"}', "{attraction: warn}")
    path.write_text(warn + "probes: 'off'\nhistory: {enabled: false}\n")
    # a warning test still runs
    assert alpha_plan(load_config(path)).share == pytest.approx(0.06 / 7)
