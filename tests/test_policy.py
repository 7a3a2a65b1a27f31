"""How `policy.alpha` is shared: every enabled test gets an even share (Bonferroni)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modelgate.config import load_config
from modelgate.policy import alpha_share, statistical_tests

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
    assert statistical_tests(config) == [
        "stats.mcnemar",
        "stats.per_class",
        "stats.destination",
        "stats.margin_collapse",
        "stats.reversal",
        "probes.triggers",
        "probes.inversion",
        "drift",
    ]
    assert alpha_share(config) == pytest.approx(0.06 / 8)


def test_tests_that_never_run_take_no_share(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(CONFIG) + "probes: 'off'\nhistory: {enabled: false}\n")
    assert alpha_share(load_config(path)) == pytest.approx(0.06 / 5)
    warn = textwrap.dedent(CONFIG).replace('{attraction: "off"}', "{attraction: warn}")
    path.write_text(warn + "probes: 'off'\nhistory: {enabled: false}\n")
    assert alpha_share(load_config(path)) == pytest.approx(0.06 / 6)  # a warning test still runs
