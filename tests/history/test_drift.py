"""Slow poisoning over successive retrains: each step passes, the drift check does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from history_sim import (
    World,
    bless_version,
    check_version,
    info,
    make_world,
    single_step_failures,
)

from modelgate.analysis.calibration import calibrate
from modelgate.config import load_config
from modelgate.history.config_ledger import open_config_ledger
from modelgate.history.drift import drift_check, earlier_blessings
from modelgate.result import Status
from modelgate.waivers import load_waivers

STEPS = 7


def retrain_series(world: World, per_step: int) -> list[tuple[list[str], Status | None]]:
    """Bless version 0, then check and bless versions 1..STEPS (an attacker nobody stopped);
    per step: the failing single-step checks and the drift check's status."""
    bless_version(world, 0, world.version(0))
    out = []
    for step in range(1, STEPS + 1):
        preds = world.version(step, moved=per_step * step)
        result = check_version(world, step, preds)
        drift = [c.status for c in result.checks if c.name == "drift"]
        out.append((single_step_failures(result), drift[0] if drift else None))
        bless_version(world, step, preds)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_slow_poisoning_passes_every_step_but_fails_drift(tmp_path: Path, seed: int) -> None:
    world = make_world(tmp_path, seed=seed)
    series = retrain_series(world, per_step=1)  # one more confident 7 turns into 1 per retrain
    assert all(failed == [] for failed, _ in series), series  # every single step passes
    drift = [status for _, status in series]
    assert drift[0] is None  # one blessing so far: nothing older to compare with
    first = drift.index(Status.FAILED)
    assert 2 <= first < STEPS - 1, drift  # caught once the shift adds up, not at the first step
    assert all(s is Status.PASSED for s in drift[1:first])
    assert all(s is Status.FAILED for s in drift[first:])


def sevens_as_ones(world: World, *moved: int) -> tuple[str, ...]:
    """The class-7 canaries each version calls 1: what the drift trajectory must show."""
    preds = [world.version(step, moved=m).labels for step, m in enumerate(moved)]
    return tuple(str(int(((world.suite.labels == 7) & (p == 1)).sum())) for p in preds)


def test_drift_finding_names_the_versions(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    for step in range(3):  # blessings #1, #2, #3 move 0, 2, 4 sevens
        bless_version(world, step, world.version(step, moved=2 * step))
    result = check_version(world, 3, world.version(3, moved=6))
    assert result.verdict.value == "failed" and single_step_failures(result) == []
    check = result.check("drift")
    (finding,) = [f for f in check.findings if f.test == "drift_destination"]
    evidence = dict(finding.evidence)
    assert (evidence["from"], evidence["to"]) == ("7", "1")
    assert evidence["since"] == "#1"  # the first blessing: the shift built up from there
    assert evidence["since_model"] == info(0).sha256
    counts = sevens_as_ones(world, 0, 2, 4, 6)
    labels = ("#1", "#2", "baseline", "candidate")
    assert evidence["trajectory"] == tuple(f"{v} {c}" for v, c in zip(labels, counts))
    assert evidence["versions"][0].startswith("bless #1 (2024-01-01")
    assert evidence["versions"][-2:] == ("baseline", "candidate")
    assert "drifted to '1'" in finding.message and "bless #1" in finding.message
    assert "#1" in check.summary


def test_clean_retrains_do_not_drift(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    series = retrain_series(world, per_step=0)
    assert [s for _, s in series if s is not None] == [Status.PASSED] * (STEPS - 1)


def test_window_limits_how_far_back(tmp_path: Path) -> None:
    world = make_world(tmp_path, window=1)  # only the blessing before the current baseline
    bless_version(world, 0, world.version(0))
    for step in range(1, 4):
        bless_version(world, step, world.version(step, moved=step))
    result = check_version(world, 4, world.version(4, moved=4))
    assert result.check("drift").status is Status.PASSED  # two steps back: 2 moves, churn-like
    assert "1 earlier blessing(s) (#3)" in result.check("drift").summary


def test_forced_blessing_starts_a_new_window(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    bless_version(world, 0, world.version(0))
    bless_version(world, 1, world.version(1, moved=6), forced=True)  # accepted on record
    result = check_version(world, 2, world.version(2, moved=7))
    assert [c.name for c in result.checks if c.name == "drift"] == []
    assert result.verdict.value == "passed"


def test_warn_mode_reports_without_failing(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    config = world.root / "modelgate.yaml"
    config.write_text(config.read_text().replace("{window: 5}", "{window: 5, mode: warn}"))
    world.config = load_config(config)
    for step in range(3):
        bless_version(world, step, world.version(step, moved=2 * step))
    result = check_version(world, 3, world.version(3, moved=6))
    assert result.check("drift").status is Status.WARNED
    assert result.verdict.value == "passed"


def test_drift_spans_suite_versions(tmp_path: Path) -> None:
    old = make_world(tmp_path)
    for step in range(2):
        bless_version(old, step, old.version(step, moved=2 * step))
    grown = make_world(tmp_path, per_class=44, suite="suite-v2")  # 40 more canaries: new digest
    assert grown.suite.digest != old.suite.digest
    grown.config.baseline_path.unlink()  # a baseline made on another suite is refused
    bless_version(grown, 2, grown.version(2, moved=4))
    result = check_version(grown, 3, grown.version(3, moved=6))
    assert single_step_failures(result) == []
    drift = result.check("drift")
    assert drift.status is Status.FAILED  # the older blessings are lined up by canary id
    assert {dict(f.evidence)["since"] for f in drift.findings} == {"#1"}


def test_drift_uses_a_churn_calibration_when_given(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    for step in range(3):
        bless_version(world, step, world.version(step))
    base = world.version(2)
    controls = [world.version(50 + i) for i in range(4)]  # clean retrains of the baseline
    calibration = calibrate(
        world.suite.labels, base.labels, base.log_probs, [(c.labels, c.log_probs) for c in controls]
    )
    with open_config_ledger(world.config) as ledger:
        versions = earlier_blessings(ledger, world.suite, "baseline.json", info(2).sha256, 5)
    assert [v.run.run_id for v in versions] == [1, 2]

    def drift(moved: int) -> Status:
        return drift_check(
            world.suite, world.version(3, moved=moved), base, versions,
            waivers=load_waivers(None, world.suite.classes), alpha=0.002, mode="fail",
            calibration=calibration,
        ).status  # fmt: skip

    assert drift(0) is Status.PASSED
    assert drift(8) is Status.FAILED
