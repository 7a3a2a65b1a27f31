"""A run that predicts what an earlier run predicted shares its rows: the ledger does not grow
by the suite's size when nothing changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from ledger_data import log_probs, new_run, suite_rows

from modelgate.history.ledger import RunKind, open_ledger


def test_the_same_predictions_again_add_a_run_row_only(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    same, other = log_probs(30, 0), log_probs(30, 1)
    with open_ledger(path) as ledger:
        ids = [
            ledger.record(new_run(kind), suite_rows(), lp, lp.argmax(axis=1))
            for kind, lp in [
                (RunKind.BLESS, same),
                (RunKind.CHECK, same),
                (RunKind.CHECK, other),
                (RunKind.CHECK, same),
            ]
        ]
        runs = ledger.runs()
        assert [r.run_id for r in runs] == ids
        for run, lp in zip(runs, [same, same, other, same]):
            stored = ledger.predictions(run)
            np.testing.assert_array_equal(stored.log_probs, lp)
            np.testing.assert_array_equal(stored.labels, lp.argmax(axis=1))
        rows = ledger.canary_rows(suite_rows().digest, [0, 5])
        assert [(r.run_id, i) for r, i, _, _ in rows] == [(k, i) for k in ids for i in (0, 5)]
        assert [p for r, i, p, _ in rows if i == 5] == [
            int(lp[5].argmax()) for lp in (same, same, other, same)
        ]
        assert ledger.integrity() == "ok"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == 2 * 30
    assert conn.execute("SELECT count(*) FROM log_probs").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM shared_predictions").fetchone()[0] == 2
    conn.close()
