"""The run ledger: every `check` and `bless`, with per-canary predictions, in one SQLite file.

A run whose predictions equal an earlier run's (the same candidate checked again) shares that
run's rows instead of adding the suite's size again.

Embedded (nothing to start), WAL so readers never block the writer, one `BEGIN IMMEDIATE`
transaction per run so ten parallel checks leave it consistent. A file that is not a ledger, or
is damaged, is a HistoryError naming it; it is never replaced.
"""

from __future__ import annotations

import enum
import hashlib
import io
import itertools
import json
import math
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelgate.errors import HistoryError
from modelgate.history.sqlitefile import connect, damaged, translated
from modelgate.jsonfile import loads

if TYPE_CHECKING:
    from modelgate.predict import Predictions

_RUN_COLUMNS = (
    "r.run_id, r.kind, r.time, r.git_commit, r.model_sha256, r.model_path, r.model_format, "
    "r.carries_code, r.suite_digest, s.name, s.version, r.config_sha256, r.baseline_path, "
    "r.baseline_model_sha256, r.verdict, r.accuracy, r.metrics, r.modelgate_version"
)


class RunKind(str, enum.Enum):
    CHECK = "check"
    BLESS = "bless"


@dataclass(frozen=True)
class SuiteRows:
    """What the ledger keeps of a suite: enough to line canaries up across suite versions."""

    digest: str
    name: str
    version: int
    classes: tuple[str, ...]
    ids: tuple[str, ...]
    labels: np.ndarray
    tags: tuple[tuple[str, ...], ...]

    @classmethod
    def from_suite(cls, suite: Any) -> SuiteRows:
        m = suite.manifest
        return cls(suite.digest, m.name, m.version, suite.classes, suite.ids, suite.labels,
                   suite.tags)  # fmt: skip


@dataclass(frozen=True)
class NewRun:
    """One run as the engine hands it over, before the ledger numbers it."""

    kind: RunKind
    time: str
    git_commit: str | None
    model_sha256: str
    model_path: str
    model_format: str
    carries_code: bool
    config_sha256: str
    baseline_path: str  # the config's `baseline:`: blessings of one line of models share it
    baseline_model_sha256: str | None
    verdict: str
    metrics: dict[str, Any]
    modelgate_version: str


@dataclass(frozen=True)
class Run:
    """One recorded run, as read back."""

    run_id: int
    kind: RunKind
    time: str
    git_commit: str | None
    model_sha256: str
    model_path: str
    model_format: str
    carries_code: bool
    suite_digest: str
    suite_name: str
    suite_version: int
    config_sha256: str
    baseline_path: str
    baseline_model_sha256: str | None
    verdict: str
    accuracy: float
    metrics: dict[str, Any]
    modelgate_version: str

    @property
    def name(self) -> str:
        """How findings name a version: `bless #4 (2024-05-01T10:00:00+00:00, model a1b2c3d4)`."""
        return f"{self.kind.value} #{self.run_id} ({self.time}, model {self.model_sha256[:12]})"


_NPY_HEADER_MAX = 1 << 16  # an .npy header is a few hundred bytes
_OPTIONAL = (str, type(None))
# The SQLite type each of a run row's columns must hold (SQLite itself keeps whatever it is
# given: an edited ledger can hold text where a count belongs).
_RUN_TYPES: tuple[type | tuple[type, ...], ...] = (
    int, str, str, _OPTIONAL, str, str, str, int, str, str, int, str, str, _OPTIONAL, str,
    (int, float), str, str,
)  # fmt: skip


def _check_class(path: Path, value: object, k: int, what: str) -> None:
    """An edited ledger row with a class index its suite does not have is damage."""
    if type(value) is not int or not 0 <= value < k:
        raise damaged(path, ValueError(f"{what} {value!r}, not one of {k} classes"))


def _run(row: Sequence[Any], path: Path) -> Run:
    """A run read back; a row of the wrong shape is a damaged ledger, named."""
    bad = [i for i, (v, t) in enumerate(zip(row, _RUN_TYPES)) if not isinstance(v, t)]
    try:
        metrics = loads(row[16]) if not bad else None
    except ValueError:
        metrics = None
    if bad or len(row) != len(_RUN_TYPES) or not isinstance(metrics, dict):
        raise damaged(path, ValueError(f"run {row[0]!r} holds values of the wrong type"))
    try:
        kind = RunKind(row[1])
    except ValueError:
        raise damaged(path, ValueError(f"run {row[0]!r} has kind {row[1]!r}")) from None
    return Run(row[0], kind, row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8],
               row[9], row[10], row[11], row[12], row[13], row[14], float(row[15]), metrics,
               row[17])  # fmt: skip


def _classes(text: Any, path: Path) -> tuple[str, ...]:
    """A suite's class names as the ledger holds them (a JSON list of text)."""
    try:
        names = loads(text) if isinstance(text, str) else None
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise damaged(path, ValueError("a suite's classes are not a list of names"))
    return tuple(names)


def _margins(log_probs: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """True-class score minus the best other, as `Predictions.margins` (kept import-light here
    so that a process that only records starts fast)."""
    rows = np.arange(len(truth))
    others = log_probs.astype(np.float64)
    true_score = others[rows, truth].copy()
    others[rows, truth] = -np.inf
    return true_score - others.max(axis=1) if len(truth) else np.zeros(0)


def _predictions_digest(suite_digest: str, log_probs: np.ndarray, preds: np.ndarray) -> str:
    """The identity of a run's predictions: equal digests, equal rows in the ledger."""
    h = hashlib.sha256(suite_digest.encode())
    h.update(np.ascontiguousarray(preds, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(log_probs, dtype=np.float32).tobytes())
    return h.hexdigest()


# The run whose rows hold a run's predictions: its own, or the earlier run it shares them with.
_SOURCE = "COALESCE((SELECT source_run_id FROM shared_predictions WHERE run_id = ?), ?)"


# Canaries written per block: a block's Python rows, not the suite's, are alive at a time (at
# 10^6 canaries the whole table's lists and a float64 copy of the scores were the first
# check's peak).
_BLOCK = 65_536


def encode_array(array: np.ndarray) -> bytearray:
    """zlib(np.save(float32 array)), compressed as it is read: no uncompressed copy is made."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    # Level 1: float32 scores barely compress at any level, and 6 costs seconds at 10^6.
    packer = zlib.compressobj(1)
    out = bytearray(packer.compress(header.getvalue()))
    data = array.reshape(-1).data.cast("B")
    for start in range(0, len(data), 1 << 20):
        out += packer.compress(data[start : start + (1 << 20)])
    out += packer.flush()
    return out


def _prediction_rows(
    run_id: int, log_probs: np.ndarray, preds: np.ndarray, labels: np.ndarray
) -> Iterator[tuple[int, int, int, float]]:
    """The `predictions` rows of one run, a block of canaries at a time."""
    for start in range(0, len(preds), _BLOCK):
        stop = start + _BLOCK
        margins = _margins(log_probs[start:stop], labels[start:stop]).round(4)
        yield from zip(
            itertools.repeat(run_id), range(start, start + len(margins)),
            preds[start:stop].tolist(), margins.tolist(),
        )  # fmt: skip


class Ledger:
    """An open ledger; use as a context manager. Every SQLite error becomes a HistoryError."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        with translated(self.path):
            yield self._conn

    @property
    def size_bytes(self) -> int:
        """The file plus its write-ahead log."""
        wal = self.path.with_name(self.path.name + "-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def record(
        self, run: NewRun, suite: SuiteRows, log_probs: np.ndarray, preds: np.ndarray
    ) -> int:
        """Write one run atomically (a single transaction); returns its run id."""
        n, k = len(suite.ids), len(suite.classes)
        if log_probs.shape != (n, k) or preds.shape != (n,):
            raise ValueError(f"predictions of shape {log_probs.shape} for {n} canaries x {k}")
        accuracy = float((preds == suite.labels).mean()) if n else 0.0
        digest = _predictions_digest(suite.digest, log_probs, preds)
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._add_suite(conn, suite)
                same = conn.execute(
                    "SELECT run_id FROM prediction_digests WHERE sha256 = ?", (digest,)
                ).fetchone()
                cur = conn.execute(
                    "INSERT INTO runs (kind, time, git_commit, model_sha256, model_path, "
                    "model_format, carries_code, suite_digest, config_sha256, baseline_path, "
                    "baseline_model_sha256, verdict, accuracy, metrics, modelgate_version) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.kind.value, run.time, run.git_commit, run.model_sha256, run.model_path,
                     run.model_format, int(run.carries_code), suite.digest, run.config_sha256,
                     run.baseline_path, run.baseline_model_sha256, run.verdict, accuracy,
                     json.dumps(run.metrics, sort_keys=True), run.modelgate_version),
                )  # fmt: skip
                run_id = int(cur.lastrowid or 0)
                if same is not None:  # nothing changed since that run: point at its rows
                    conn.execute(
                        "INSERT INTO shared_predictions VALUES (?, ?)", (run_id, int(same[0]))
                    )
                else:
                    conn.executemany(
                        "INSERT INTO predictions VALUES (?, ?, ?, ?)",
                        _prediction_rows(run_id, log_probs, preds, suite.labels),
                    )
                    conn.execute(
                        "INSERT INTO log_probs VALUES (?, ?)", (run_id, encode_array(log_probs))
                    )
                    conn.execute("INSERT INTO prediction_digests VALUES (?, ?)", (digest, run_id))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return run_id

    @staticmethod
    def _add_suite(conn: sqlite3.Connection, suite: SuiteRows) -> None:
        cur = conn.execute(
            "INSERT OR IGNORE INTO suites VALUES (?, ?, ?, ?, ?)",
            (suite.digest, suite.name, suite.version, json.dumps(list(suite.classes)),
             len(suite.ids)),
        )  # fmt: skip
        if cur.rowcount == 0:
            return
        labels = suite.labels.tolist()
        conn.executemany(
            "INSERT INTO canaries VALUES (?, ?, ?, ?)",
            ((suite.digest, i, cid, y) for i, (cid, y) in enumerate(zip(suite.ids, labels))),
        )
        tagged = ((i, tag) for i, tags in enumerate(suite.tags) for tag in sorted(set(tags)))
        conn.executemany(
            "INSERT INTO canary_tags VALUES (?, ?, ?)", ((suite.digest, t, i) for i, t in tagged)
        )

    def runs(
        self,
        *,
        kind: RunKind | None = None,
        suite_digest: str | None = None,
        baseline_path: str | None = None,
    ) -> list[Run]:
        """Runs in the order they were recorded, optionally of one kind, suite and baseline."""
        where, params = [], []
        if baseline_path is not None:
            where.append("r.baseline_path = ?")
            params.append(baseline_path)
        if kind is not None:
            where.append("r.kind = ?")
            params.append(kind.value)
        if suite_digest is not None:
            where.append("r.suite_digest = ?")
            params.append(suite_digest)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs r JOIN suites s ON s.digest = r.suite_digest "
                f"{clause} ORDER BY r.run_id",
                params,
            ).fetchall()
        return [_run(row, self.path) for row in rows]

    def predictions(self, run: Run) -> Predictions:
        """The run's full log-probabilities and predicted labels, in its suite's order."""
        from modelgate.predict import Predictions

        with self._guard() as conn:
            (source,) = conn.execute(f"SELECT {_SOURCE}", (run.run_id, run.run_id)).fetchone()
            found = conn.execute("SELECT npy FROM log_probs WHERE run_id = ?", (source,))
            blob = found.fetchone()
            preds = conn.execute(
                "SELECT pred FROM predictions WHERE run_id = ? ORDER BY canary_idx", (source,)
            ).fetchall()
        if not all(type(p) is int for (p,) in preds):
            raise damaged(self.path, ValueError(f"run #{run.run_id} has a prediction of text"))
        labels = np.array([p for (p,) in preds], dtype=np.int64)
        # at most the float32 table of its suite: an edited blob cannot inflate without bound
        k = len(self.classes(run.suite_digest))
        if labels.size and not (int(labels.min()) >= 0 and int(labels.max()) < k):
            raise damaged(self.path, ValueError(f"run #{run.run_id} predicts a class beyond {k}"))
        limit = 4 * labels.size * k + _NPY_HEADER_MAX
        try:
            inflate = zlib.decompressobj()
            data = inflate.decompress(blob[0], limit)
            if inflate.unconsumed_tail:
                raise ValueError(f"inflates beyond the {limit} bytes of its suite's scores")
            log_probs = np.load(io.BytesIO(data), allow_pickle=False)
        except (TypeError, zlib.error, ValueError, OSError) as exc:
            raise HistoryError(
                f"log-probabilities of run #{run.run_id} are unreadable ({exc})", file=self.path
            ) from None
        if log_probs.shape != (labels.size, k) or log_probs.dtype != np.float32:
            raise HistoryError(f"run #{run.run_id} is incomplete", file=self.path)
        return Predictions(log_probs=log_probs, labels=labels)

    def suite(self, digest: str) -> SuiteRows:
        """The suite a run was recorded on."""
        with self._guard() as conn:
            row = conn.execute(
                "SELECT name, version, classes FROM suites WHERE digest = ?", (digest,)
            ).fetchone()
            if row is None:
                raise HistoryError(f"suite {digest[:12]} is not in the ledger", file=self.path)
            canaries = conn.execute(
                "SELECT canary_id, label FROM canaries WHERE suite_digest = ? ORDER BY canary_idx",
                (digest,),
            ).fetchall()
            tag_rows = conn.execute(
                "SELECT canary_idx, tag FROM canary_tags WHERE suite_digest = ?", (digest,)
            ).fetchall()
        tags: list[list[str]] = [[] for _ in canaries]
        if any(type(i) is not int or not 0 <= i < len(tags) or type(t) is not str
               for i, t in tag_rows):  # fmt: skip
            raise damaged(self.path, ValueError(f"suite {digest[:12]} tags a canary it lacks"))
        for i, tag in tag_rows:
            tags[i].append(tag)
        if not isinstance(row[1], int) or any(
            not isinstance(c, str) or not isinstance(y, int) for c, y in canaries
        ):
            wrong = ValueError(f"suite {digest[:12]} holds values of the wrong type")
            raise damaged(self.path, wrong)
        return SuiteRows(digest, row[0], row[1], _classes(row[2], self.path),
                         tuple(c for c, _ in canaries),
                         np.array([y for _, y in canaries], dtype=np.int64),
                         tuple(tuple(sorted(t)) for t in tags))  # fmt: skip

    def classes(self, digest: str) -> tuple[str, ...]:
        with self._guard() as conn:
            row = conn.execute("SELECT classes FROM suites WHERE digest = ?", (digest,)).fetchone()
        if row is None:
            raise HistoryError(f"suite {digest[:12]} is not in the ledger", file=self.path)
        return _classes(row[0], self.path)

    def suite_digests(self) -> list[str]:
        """Suites in the order of their first run."""
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT suite_digest FROM runs GROUP BY suite_digest ORDER BY min(run_id)"
            ).fetchall()
        return [d for (d,) in rows]

    def positions(self, canary_id: str) -> list[tuple[str, int, int]]:
        """(suite digest, position, label) of a canary in every suite the ledger knows."""
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT suite_digest, canary_idx, label FROM canaries WHERE canary_id = ?",
                (canary_id,),
            ).fetchall()
        for digest, _, label in rows:
            _check_class(self.path, label, len(self.classes(digest)), f"{canary_id!r} has label")
        return rows

    def tagged(self, suite_digest: str, tag: str) -> list[int]:
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT canary_idx FROM canary_tags WHERE suite_digest = ? AND tag = ? "
                "ORDER BY canary_idx",
                (suite_digest, tag),
            ).fetchall()
        return [i for (i,) in rows]

    def canary_rows(
        self, suite_digest: str, indices: Sequence[int]
    ) -> list[tuple[Run, int, int, float]]:
        """(run, canary position, pred, margin) for these canaries in every run on the suite."""
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS}, p.canary_idx, p.pred, p.margin "
                "FROM runs r JOIN suites s ON s.digest = r.suite_digest "
                "LEFT JOIN shared_predictions sp ON sp.run_id = r.run_id "
                "JOIN predictions p ON p.run_id = COALESCE(sp.source_run_id, r.run_id) "
                "AND p.canary_idx IN (SELECT value FROM json_each(?)) "
                "WHERE r.suite_digest = ? ORDER BY r.run_id, p.canary_idx",
                (json.dumps([int(i) for i in indices]), suite_digest),
            ).fetchall()
        n = len(_RUN_COLUMNS.split(","))
        if any(not isinstance(v, (int, float)) for row in rows for v in row[n:]):
            raise damaged(self.path, ValueError("a prediction row holds text"))
        k = len(self.classes(suite_digest))
        for row in rows:
            _check_class(self.path, row[n + 1], k, f"run #{row[0]} predicts")
            if not math.isfinite(row[n + 2]):
                raise damaged(self.path, ValueError(f"run #{row[0]} has a margin of {row[n + 2]}"))
        return [(_run(row[:n], self.path), int(row[n]), int(row[n + 1]), float(row[n + 2]))
                for row in rows]  # fmt: skip

    def remember_record(
        self, kind: str, path: str, sha256: str, *, time: str, run_id: int | None = None
    ) -> None:
        """Note that `bless` or `calibrate` wrote this record (kind, config path, digest)."""
        with self._guard() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?, ?)",
                (kind, path, sha256, run_id, time),
            )

    def record_digests(self, kind: str, path: str) -> set[str]:
        """The digests of every record of this kind that was written for `path`."""
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT sha256 FROM records WHERE kind = ? AND path = ?", (kind, path)
            ).fetchall()
        return {d for (d,) in rows}

    def integrity(self) -> str:
        """`ok`, or what SQLite's integrity check found."""
        with self._guard() as conn:
            found = conn.execute("PRAGMA integrity_check").fetchall()
            fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        text = "; ".join(str(r[0]) for r in found)
        return text if not fk else f"{text}; {len(fk)} dangling reference(s)"


def open_ledger(path: str | Path, *, create: bool = True) -> Ledger:
    """Open (and create or migrate) the ledger at `path`; refuse a foreign or damaged file."""
    path = Path(path)
    return Ledger(path, connect(path, create=create))
