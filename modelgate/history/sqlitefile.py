"""Opening the ledger's SQLite file safely: tell a ledger from a foreign or damaged file before
writing anything, switch to WAL, and apply the schema migrations under one write lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelgate.errors import HistoryError
from modelgate.history.migrations import APPLICATION_ID, MIGRATIONS

BUSY_TIMEOUT_S = 60.0
_MAGIC = b"SQLite format 3\x00"


@contextmanager
def translated(path: Path) -> Iterator[None]:
    """Every SQLite error as a HistoryError naming the file: exit 2, never a traceback."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise HistoryError(
                f"the ledger stayed locked for over {BUSY_TIMEOUT_S:.0f} s", file=path
            ) from None
        raise damaged(path, exc) from None
    except sqlite3.Error as exc:
        raise damaged(path, exc) from None


def damaged(path: Path, exc: Exception) -> HistoryError:
    """The error for a ledger that is not what modelgate wrote (exit 2, never a traceback)."""
    return HistoryError(
        f"the run ledger is damaged or unreadable ({exc})",
        file=path,
        key="history.path",
        hint="move the file aside (it is never replaced silently) or point history.path elsewhere",
    )


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Open (and create or migrate) the ledger file; refuse a foreign or damaged one."""
    try:
        return _connect(path, create=create)
    except OSError as exc:  # e.g. `.modelgate` is a file, or the folder is not writable
        raise HistoryError(
            f"cannot open the run ledger: {exc.strerror or exc}",
            file=path,
            key="history.path",
            hint="history.path must be a file in a writable folder (or history.enabled: false)",
        ) from None


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    if path.is_dir():
        raise HistoryError("is a folder, not a ledger file", file=path, key="history.path")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise HistoryError(
                f"{parent.name} is a file, so the ledger cannot be made inside it",
                file=parent,
                key="history.path",
                hint="move that file aside, or point history.path elsewhere",
            )
        if parent.exists():
            break
    if path.exists() and not path.is_file():  # a FIFO or a device: reading it may never end
        raise HistoryError("is not a regular file", file=path, key="history.path")
    if path.exists():
        with path.open("rb") as handle:
            head = handle.read(len(_MAGIC))
        if head and head != _MAGIC:
            raise HistoryError(
                "not an SQLite database: damaged, or another kind of file",
                file=path,
                key="history.path",
                hint="move the file aside (it is never replaced) or point history.path elsewhere",
            )
    elif not create:
        raise HistoryError(
            "no run ledger here yet",
            file=path,
            key="history.path",
            hint="`modelgate check` and `modelgate bless` record their runs in it",
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    with translated(path):
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        with translated(path):
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _identify(conn, path)
            _retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _identify(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version; a foreign or newer file is refused before anything is written."""
    own = not conn.in_transaction
    if own:  # one snapshot: another process may be creating the schema right now
        conn.execute("BEGIN")
    try:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        code = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type IN ('trigger', 'view')"
        ).fetchone()[0]
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        if own:
            conn.execute("COMMIT")
    if app == APPLICATION_ID:
        if code:  # SQLite runs a file's triggers and views: its author's code, unbounded
            raise HistoryError(
                f"the ledger holds {code} trigger(s) or view(s), which modelgate never writes",
                file=path,
                key="history.path",
                hint="move the file aside (it is never replaced) or point history.path elsewhere",
            )
        if version > len(MIGRATIONS):
            raise HistoryError(
                f"ledger schema version {version} is newer than this modelgate knows "
                f"({len(MIGRATIONS)})",
                file=path,
                key="history.path",
                hint="upgrade modelgate",
            )
        return int(version)
    if app != 0 or version != 0 or tables:
        raise HistoryError(
            f"an SQLite file that is not a modelgate ledger (application_id {app:#x})",
            file=path,
            key="history.path",
            hint="point history.path at a file of its own",
        )
    return 0


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    if conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _identify(conn, path)  # again, under the write lock: another process may have won
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _retry_locked(action: Any) -> Any:
    """Switching to WAL needs a moment alone with the file; wait like busy_timeout would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
