"""Behaviour over many retrains: the run ledger, cumulative drift, canary timelines, rollback aid.

Modules: `ledger` (SQLite store), `migrations` (its schema), `drift` (the cumulative drift
check), `timeline` (timelines and last-good), `engine` (what `check` and `bless` call),
`render` (text and JSON for `modelgate history`), `plot` (optional, needs matplotlib).
"""
