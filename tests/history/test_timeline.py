"""Timelines and last-good, answered from the ledger alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from history_sim import World, bless_version, check_version, info, make_world

from modelgate.engine.rollback import last_good
from modelgate.errors import HistoryError
from modelgate.history.config_ledger import open_config_ledger
from modelgate.history.timeline import canary_timeline, tag_timeline


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Blessings #1..#4 move 0, 1, 2, 3 sevens to 1; then check #5 moves 4."""
    world = make_world(tmp_path)
    for step in range(4):
        bless_version(world, step, world.version(step, moved=step))
    check_version(world, 4, world.version(4, moved=4))
    return world


def sevens(world: World) -> list[str]:
    return [world.suite.ids[i] for i in np.flatnonzero(world.suite.labels == 7)]


def test_canary_timeline_names_the_version_that_flipped_it(world: World) -> None:
    second = sevens(world)[1]  # moved from step 2 on
    with open_config_ledger(world.config, create=False) as ledger:
        points = canary_timeline(ledger, second)
    assert [p.run.run_id for p in points] == [1, 2, 3, 4, 5]
    assert [p.pred for p in points] == ["7", "7", "1", "1", "1"]
    assert {p.label for p in points} == {"7"}
    flipped = [(p.run.run_id, p.flipped_from) for p in points if p.flipped_from]
    assert flipped == [(3, "7")]
    assert points[2].run.model_sha256 == info(2).sha256
    assert points[1].margin > 0 > points[2].margin


def test_unknown_canary_is_a_history_error(world: World) -> None:
    with open_config_ledger(world.config, create=False) as ledger, pytest.raises(HistoryError):
        canary_timeline(ledger, "no-such-canary")


def test_tag_timeline_counts_and_flips(world: World) -> None:
    first3 = sevens(world)[:3]
    with open_config_ledger(world.config, create=False) as ledger:
        points = tag_timeline(ledger, "watched")
    assert [p.n for p in points] == [3] * 5
    assert [p.correct for p in points] == [3, 2, 1, 0, 0]
    assert [p.flipped for p in points] == [(), (first3[0],), (first3[1],), (first3[2],), ()]


def test_last_good_skips_blessings_that_fail_against_the_anchor(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    for step, moved in enumerate([0, 0, 1, 10, 14]):  # the last two would never pass alone
        bless_version(world, step, world.version(step, moved=moved))
    with open_config_ledger(world.config, create=False) as ledger:
        found = last_good(world.config, ledger)
    assert found.anchor.model_sha256 == info(0).sha256
    assert found.good.model_sha256 == info(2).sha256
    assert [r.model_sha256 for r, _ in found.rejected] == [info(4).sha256, info(3).sha256]
    assert all("stats.destination" in failed for _, failed in found.rejected)


def test_last_good_is_the_anchor_when_everything_later_fails(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    bless_version(world, 0, world.version(0))
    bless_version(world, 1, world.version(1, moved=12))
    with open_config_ledger(world.config, create=False) as ledger:
        found = last_good(world.config, ledger)
    assert found.good is found.anchor and len(found.rejected) == 1
