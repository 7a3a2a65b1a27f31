"""The ledger file: round trip, WAL, damaged, foreign and newer files, migrations, ten writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from ledger_data import log_probs, new_run, record, suite_rows

from modelgate.errors import HistoryError
from modelgate.history import migrations
from modelgate.history.ledger import RunKind, open_ledger


def test_round_trip_and_file_identity(tmp_path: Path) -> None:
    path = tmp_path / ".modelgate" / "history.sqlite"
    lp = log_probs(30, 0)
    with open_ledger(path) as ledger:
        run_id = ledger.record(new_run(RunKind.BLESS), suite_rows(), lp, lp.argmax(axis=1))
        (run,) = ledger.runs()
        stored = ledger.predictions(run)
        assert ledger.integrity() == "ok"
    assert run.run_id == run_id and run.kind is RunKind.BLESS and run.suite_name == "tiny"
    np.testing.assert_array_equal(stored.log_probs, lp)  # float32, bit for bit
    np.testing.assert_array_equal(stored.labels, lp.argmax(axis=1))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA application_id").fetchone()[0] == migrations.APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations.MIGRATIONS)
    assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == 30
    conn.close()


def test_missing_ledger_is_an_error_when_reading(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no run ledger") as err:
        open_ledger(tmp_path / "none.sqlite", create=False)
    assert err.value.file == str(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


def test_garbage_file_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="not an SQLite database") as err:
        open_ledger(path)
    assert err.value.file == str(path) and err.value.exit_code == 2
    assert path.read_bytes() == before


def test_damaged_ledger_is_a_history_error(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    for seed in range(3):
        record(path, seed, n=3000)
    with open_ledger(path) as ledger:  # fold the WAL into the file, then break its pages
        ledger._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096:] = bytes([0xA5]) * (len(data) - 4096)  # every page after the first
    path.write_bytes(bytes(data))
    with pytest.raises(HistoryError, match="damaged") as err, open_ledger(path) as ledger:
        ledger.runs()
        ledger.integrity()
    assert err.value.file == str(path)
    assert "history.sqlite" in err.value.one_line()


@pytest.mark.parametrize(
    ("edit", "read"),
    [
        ("UPDATE runs SET metrics = 'not json'", "runs"),
        ("UPDATE runs SET metrics = '[[[['", "runs"),
        ("UPDATE runs SET accuracy = 'abc'", "runs"),
        ("UPDATE runs SET model_sha256 = x'00ff'", "runs"),
        ("UPDATE suites SET classes = '[1, 2]'", "suite"),
        ("UPDATE suites SET version = 'one'", "suite"),
        ("UPDATE predictions SET margin = 'far'", "canary_rows"),
    ],
)
def test_an_edited_row_is_a_damaged_ledger_not_a_crash(
    tmp_path: Path, edit: str, read: str
) -> None:
    """SQLite keeps whatever a column is given: an edited value of the wrong type is named."""
    path = tmp_path / "history.sqlite"
    record(path, 0)
    conn = sqlite3.connect(path)
    conn.execute(edit)
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError, match="damaged") as err, open_ledger(path) as ledger:
        if read == "runs":
            ledger.runs()
        elif read == "suite":
            ledger.suite("d" * 64)
        else:
            ledger.canary_rows("d" * 64, [0, 1])
    assert err.value.file == str(path) and err.value.exit_code == 2


@pytest.mark.parametrize("edit", ["blob", "bomb", "pred"])
def test_edited_scores_of_a_run_are_refused_in_bounded_memory(tmp_path: Path, edit: str) -> None:
    path = tmp_path / "history.sqlite"
    record(path, 0)
    conn = sqlite3.connect(path)
    if edit == "blob":
        conn.execute("UPDATE log_probs SET npy = x'00ff00ff'")
    elif edit == "bomb":  # 30 canaries x 3 classes, inflating to 256 MiB of zeros
        conn.execute("UPDATE log_probs SET npy = ?", (zlib.compress(bytes(256 << 20)),))
    else:
        conn.execute("UPDATE predictions SET pred = 'b' WHERE canary_idx = 4")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryError) as err, open_ledger(path) as ledger:
        ledger.predictions(ledger.runs()[0])
    assert err.value.file == str(path) and err.value.exit_code == 2
    if edit == "bomb":
        assert "inflates beyond" in err.value.message


def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="not a modelgate ledger"):
        open_ledger(path)
    assert path.read_bytes() == before
    assert not Path(str(path) + "-wal").exists()


def test_other_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1234")
    conn.close()
    with pytest.raises(HistoryError, match="0x4d2"):
        open_ledger(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    record(path, 0)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(HistoryError, match="newer than this modelgate"):
        open_ledger(path)


def test_migrations_upgrade_an_old_ledger_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.sqlite"
    record(path, 0)
    extra = ("ALTER TABLE runs ADD COLUMN note TEXT", "UPDATE runs SET note = 'migrated'")
    upgraded = (*migrations.MIGRATIONS, extra)
    monkeypatch.setattr("modelgate.history.sqlitefile.MIGRATIONS", upgraded)
    with open_ledger(path) as ledger:
        assert len(ledger.runs()) == 1  # the old run survives the upgrade
        record_id = ledger.record(new_run(), suite_rows(), log_probs(30, 1), np.zeros(30, int))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(upgraded)
    notes = conn.execute("SELECT run_id, note FROM runs ORDER BY run_id").fetchall()
    conn.close()
    assert notes == [(1, "migrated"), (record_id, None)]


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from ledger_data import record
folder, worker = Path(sys.argv[1]), int(sys.argv[2])
(folder / f"ready-{worker}").touch()
while not (folder / "go").exists():  # start together: the point is contention
    time.sleep(0.01)
for i in range(4):
    record(folder / "history.sqlite", seed=worker * 100 + i, n=2000)
"""


def test_ten_parallel_writers_leave_the_ledger_consistent(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"  # not created yet: the writers race to create it too
    here = str(Path(__file__).parent)
    workers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(w), here])
        for w in range(10)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    (tmp_path / "go").touch()
    assert [w.wait(timeout=120) for w in workers] == [0] * 10
    with open_ledger(path) as ledger:
        assert ledger.integrity() == "ok"
        runs = ledger.runs()
        assert [r.run_id for r in runs] == list(range(1, 41))
        for run in runs[::7]:
            assert ledger.predictions(run).log_probs.shape == (2000, 3)
        counts = ledger._conn.execute(
            "SELECT count(*), count(DISTINCT run_id) FROM predictions"
        ).fetchone()
    assert counts == (40 * 2000, 40)


def test_rows_written_in_blocks_are_the_rows_of_one_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The predictions table and the stored scores do not depend on the block size."""
    from modelgate.history import ledger as ledger_module

    lp = log_probs(30, 3)
    tables = []
    for block, name in ((1 << 16, "one.sqlite"), (7, "blocks.sqlite")):
        monkeypatch.setattr(ledger_module, "_BLOCK", block)
        with open_ledger(tmp_path / name) as ledger:
            ledger.record(new_run(), suite_rows(), lp, lp.argmax(axis=1))
            (run,) = ledger.runs()
            np.testing.assert_array_equal(ledger.predictions(run).log_probs, lp)
        conn = sqlite3.connect(tmp_path / name)
        tables.append(conn.execute("SELECT * FROM predictions ORDER BY canary_idx").fetchall())
        tables.append(conn.execute("SELECT npy FROM log_probs").fetchall())
        conn.close()
    assert len(tables[0]) == 30 and tables[0] == tables[2] and tables[1] == tables[3]
