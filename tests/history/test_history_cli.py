"""`modelgate history` and the ledger seen from the command line, end to end."""

from __future__ import annotations

import json
import multiprocessing
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from history_sim import World, bless_version, check_version, make_world
from projects import Project

from modelgate.cli import main
from modelgate.history.ledger import open_ledger


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = make_world(tmp_path)
    for step in range(4):
        bless_version(world, step, world.version(step, moved=2 * step))
    check_version(world, 4, world.version(4, moved=8))
    return world


def history(world: World, *args: str) -> list[str]:
    return ["history", "-c", str(world.root / "modelgate.yaml"), *args]


def test_lists_runs_as_a_table_and_as_json(world: World, capsys: pytest.CaptureFixture) -> None:
    assert main(history(world)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:5] == ["run", "kind", "time", "model", "verdict"]
    assert "5 runs (4 blessings, 1 checks)" in out
    assert main(history(world, "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in data["runs"]] == ["bless"] * 4 + ["check"]
    assert data["runs"][-1]["verdict"] == "failed"  # the drift check caught step 4
    assert data["runs"][-1]["metrics"]["checks"]["drift"] == "failed"


def test_canary_timeline(world: World, capsys: pytest.CaptureFixture) -> None:
    canary = world.suite.ids[int(np.flatnonzero(world.suite.labels == 7)[0])]
    assert main(history(world, "--canary", canary)) == 0
    out = capsys.readouterr().out
    assert f"canary {canary} (label '7'): 5 runs, 1 flip(s)" in out
    assert "flipped 7 -> 1" in out.splitlines()[3]  # the header lines, #1, then #2
    assert main(history(world, "--canary", canary, "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["pred"] for p in data["timeline"]] == ["7", "1", "1", "1", "1"]


def test_timelines_compare_with_the_blessed_model(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Two checks of the same poisoned candidate: both differ from the blessed model, though
    the second equals the check before it."""
    world = make_world(tmp_path)
    bless_version(world, 0, world.version(0))
    check_version(world, 1, world.version(1, moved=3))
    check_version(world, 2, world.version(2, moved=3))
    canary = world.suite.ids[int(np.flatnonzero(world.suite.labels == 7)[0])]
    assert main(history(world, "--canary", canary, "--json")) == 0
    timeline = json.loads(capsys.readouterr().out)["timeline"]
    assert [(p["run"], p["pred"], p["flipped_from"]) for p in timeline] == [
        (1, "7", None),
        (2, "1", "7"),
        (3, "1", "7"),  # against bless #1, not against check #2
    ]
    assert [p["blessed_run"] for p in timeline] == [None, 1, 1]
    assert main(history(world, "--canary", canary)) == 0
    out = capsys.readouterr().out
    assert "3 runs, 2 flip(s) against the blessed model" in out
    assert out.splitlines()[-1].endswith("bless #1  flipped 7 -> 1")
    assert main(history(world, "--tag", "watched", "--json")) == 0
    tags = json.loads(capsys.readouterr().out)["timeline"]
    assert [len(p["flipped"]) for p in tags] == [0, 3, 3]


def test_finds_the_config_in_the_current_folder_like_check(
    world: World, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(world.root)
    assert main(["history"]) == 0
    assert "5 runs (4 blessings, 1 checks)" in capsys.readouterr().out
    monkeypatch.chdir(world.root / "suite")  # no modelgate.yaml here: exit 2, naming it
    assert main(["history"]) == 2
    err = capsys.readouterr().err
    assert "modelgate.yaml" in err and len(err.splitlines()) == 1


def test_tag_timeline(world: World, capsys: pytest.CaptureFixture) -> None:
    assert main(history(world, "--tag", "watched")) == 0
    assert "0/3" in capsys.readouterr().out


def test_last_good(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    world = make_world(tmp_path)
    for step, moved in enumerate([0, 1, 12]):
        bless_version(world, step, world.version(step, moved=moved))
    assert main(history(world, "--last-good")) == 0
    out = capsys.readouterr().out
    assert out.startswith("last good: bless #2 (") and "models/v1.safetensors" in out
    assert "bless #3" in out and "stats.destination" in out
    assert main(history(world, "--last-good", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["last_good"]["run"] == 2


def test_no_ledger_yet_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    world = make_world(tmp_path)
    assert main(history(world)) == 2
    err = capsys.readouterr().err
    assert (
        "no run ledger here yet" in err and "history.sqlite" in err and len(err.splitlines()) == 1
    )


def test_plot_without_matplotlib_exits_2(
    world: World, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(history(world, "--plot", str(world.root / "h.png"))) == 2
    err = capsys.readouterr().err
    assert "modelgate[plot]" in err and len(err.splitlines()) == 1
    assert not (world.root / "h.png").exists()


def test_plot_writes_a_png(world: World, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("matplotlib")
    out = world.root / "history.png"
    assert main(history(world, "--plot", str(out))) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plot:" in capsys.readouterr().err


def test_check_records_each_run(project: Project) -> None:
    ledger_path = project.root / ".modelgate" / "history.sqlite"
    assert main(["check", "-q", "--no-reports", "-c", str(project.config)]) == 0
    with open_ledger(ledger_path, create=False) as ledger:
        runs = ledger.runs()
    assert [(r.kind.value, r.verdict) for r in runs] == [("bless", "blessed"), ("check", "passed")]
    assert runs[1].baseline_model_sha256 == runs[0].model_sha256
    assert runs[1].metrics["checks"]["accuracy"] == "passed"


def test_damaged_ledger_makes_check_exit_2(project: Project, capsys: pytest.CaptureFixture) -> None:
    ledger_path = project.root / ".modelgate" / "history.sqlite"
    ledger_path.write_bytes(b"\x00garbage" * 512)
    assert main(["check", "-q", "--no-reports", "-c", str(project.config)]) == 2
    err = capsys.readouterr().err
    assert str(ledger_path) in err and len(err.splitlines()) == 1
    assert ledger_path.read_bytes() == b"\x00garbage" * 512  # never replaced


def test_history_can_be_switched_off(project: Project) -> None:
    config = project.config
    config.write_text(config.read_text() + "history: {enabled: false}\n")
    (project.root / ".modelgate" / "history.sqlite").unlink()
    assert main(["check", "-q", "--no-reports", "-c", str(config)]) == 0
    assert not (project.root / ".modelgate" / "history.sqlite").exists()


NUMPY_MODEL = """
import numpy as np

def load(path):
    weights = np.load(path, allow_pickle=False)
    return lambda x: np.asarray(x) @ weights.T
"""


def _check_and_exit(argv: list[str]) -> None:
    sys.exit(main(argv))


def test_ten_parallel_check_processes(project: Project) -> None:
    """Real `modelgate check` processes on one ledger (a numpy model: no torch to import)."""
    root = project.root
    (root / "npmodel.py").write_text(NUMPY_MODEL)
    np.save(root / "weights.npy", np.eye(3, 4, dtype=np.float32) * 3)
    config = root / "np.yaml"
    text = """
        version: 1
        suite: suite
        candidate: {path: weights.npy, callable: "npmodel.py:load", allow_code: true}
        baseline: np-baseline.json
    """
    config.write_text(textwrap.dedent(text))
    assert main(["bless", "-c", str(config)]) == 0
    # forked from this process, so ten interpreters need not import modelgate ten times over
    ctx = multiprocessing.get_context("fork")
    argv = ["check", "-q", "--no-reports", "-c", str(config)]
    workers = [ctx.Process(target=_check_and_exit, args=(argv,)) for _ in range(10)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert [w.exitcode for w in workers] == [0] * 10
    with open_ledger(root / ".modelgate" / "history.sqlite", create=False) as ledger:
        assert ledger.integrity() == "ok"
        runs = ledger.runs(baseline_path="np-baseline.json")
        assert [r.kind.value for r in runs] == ["bless"] + ["check"] * 10
        for run in runs:
            assert ledger.predictions(run).log_probs.shape == (240, 3)


@pytest.mark.parametrize("where", ["folder", "unwritable"])
def test_a_plot_that_cannot_be_written_names_its_path_and_option(
    world: World, capsys: pytest.CaptureFixture, where: str
) -> None:
    pytest.importorskip("matplotlib")
    out = world.root if where == "folder" else Path("/proc/modelgate-history.png")
    capsys.readouterr()
    assert main(history(world, "--plot", str(out))) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(out) in err and "--plot" in err, err
    assert ".tmp" not in err
