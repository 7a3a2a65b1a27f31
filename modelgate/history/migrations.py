"""The ledger's schema, as a list of migrations applied in order.

`PRAGMA user_version` counts the migrations a file has had; migration i takes it from i to i + 1.
Never edit a migration that has shipped: append a new one, so every old ledger upgrades in place.
"""

from __future__ import annotations

# Stored as the SQLite header's application_id, so a ledger is told from any other SQLite file.
APPLICATION_ID = 0x4D474C47  # "MGLG"

_V1 = (
    """
    CREATE TABLE suites (
        digest TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        classes TEXT NOT NULL,            -- JSON list, in model output order
        n_canaries INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE canaries (
        suite_digest TEXT NOT NULL REFERENCES suites(digest),
        canary_idx INTEGER NOT NULL,      -- position in the suite
        canary_id TEXT NOT NULL,
        label INTEGER NOT NULL,
        PRIMARY KEY (suite_digest, canary_idx)
    ) WITHOUT ROWID
    """,
    "CREATE UNIQUE INDEX canaries_by_id ON canaries (canary_id, suite_digest)",
    """
    CREATE TABLE canary_tags (
        suite_digest TEXT NOT NULL REFERENCES suites(digest),
        tag TEXT NOT NULL,
        canary_idx INTEGER NOT NULL,
        PRIMARY KEY (suite_digest, tag, canary_idx)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('check', 'bless')),
        time TEXT NOT NULL,
        git_commit TEXT,
        model_sha256 TEXT NOT NULL,
        model_path TEXT NOT NULL,
        model_format TEXT NOT NULL,
        carries_code INTEGER NOT NULL,
        suite_digest TEXT NOT NULL REFERENCES suites(digest),
        config_sha256 TEXT NOT NULL,
        baseline_path TEXT NOT NULL,      -- the config's baseline: which line of models this is
        baseline_model_sha256 TEXT,       -- the blessed model a check compared against
        verdict TEXT NOT NULL,            -- passed / failed (check), blessed / forced (bless)
        accuracy REAL NOT NULL,
        metrics TEXT NOT NULL,            -- JSON
        modelgate_version TEXT NOT NULL
    )
    """,
    "CREATE INDEX runs_by_suite ON runs (suite_digest, kind, run_id)",
    # Run-major on purpose: a run appends at the end of the tree, and one canary's timeline is a
    # primary-key lookup per run. A canary-major index would double the file and rewrite pages
    # all over it on every run.
    """
    CREATE TABLE predictions (
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        canary_idx INTEGER NOT NULL,
        pred INTEGER NOT NULL,
        margin REAL NOT NULL,
        PRIMARY KEY (run_id, canary_idx)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE log_probs (
        run_id INTEGER PRIMARY KEY REFERENCES runs(run_id),
        npy BLOB NOT NULL                 -- zlib(np.save(float32 N x K)), allow_pickle=False
    )
    """,
)

# The digests of the records `bless` and `calibrate` wrote: `check` refuses a record the
# ledger does not know (see modelgate.trust). Nothing else vouches for a record's content.
_V2 = (
    """
    CREATE TABLE records (
        kind TEXT NOT NULL CHECK (kind IN ('baseline', 'calibration')),
        path TEXT NOT NULL,               -- as the config names it
        sha256 TEXT NOT NULL,
        run_id INTEGER REFERENCES runs(run_id),
        time TEXT NOT NULL,
        PRIMARY KEY (kind, path, sha256)
    ) WITHOUT ROWID
    """,
)

# A check that predicts exactly what an earlier run predicted (the same candidate checked again)
# stores a pointer to that run instead of the suite's size in rows: the ledger grows by the suite
# only when predictions change. Runs from before this migration keep their own rows.
_V3 = (
    """
    CREATE TABLE prediction_digests (
        sha256 TEXT PRIMARY KEY,          -- of suite digest, predicted labels and log-probs
        run_id INTEGER NOT NULL REFERENCES runs(run_id)   -- the run that stored them
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE shared_predictions (
        run_id INTEGER PRIMARY KEY REFERENCES runs(run_id),
        source_run_id INTEGER NOT NULL REFERENCES runs(run_id)   -- whose rows are this run's
    )
    """,
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
