"""Small runs for the ledger tests; no pytest import, so the parallel writers start fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelgate.history.ledger import NewRun, RunKind, SuiteRows, open_ledger

CLASSES = ("a", "b", "c")


def suite_rows(n: int = 30, digest: str = "d" * 64) -> SuiteRows:
    labels = np.arange(n) % len(CLASSES)
    tags = tuple(("protected",) if i < 3 else () for i in range(n))
    return SuiteRows(digest, "tiny", 1, CLASSES, tuple(f"c{i:03d}" for i in range(n)), labels, tags)


def new_run(kind: RunKind = RunKind.CHECK, verdict: str = "passed") -> NewRun:
    time = "2024-01-01T00:00:00+00:00"
    return NewRun(kind, time, "abc", "m" * 64, "m.safetensors", "state_dict", False, "c" * 64,
                  "b.json", None, verdict, {"checks": {}}, "0.1.0")  # fmt: skip


def log_probs(n: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).normal(size=(n, len(CLASSES)))
    return (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(np.float32)


def record(path: Path, seed: int, kind: RunKind = RunKind.CHECK, n: int = 30) -> int:
    lp = log_probs(n, seed)
    with open_ledger(path) as ledger:
        return ledger.record(new_run(kind), suite_rows(n), lp, lp.argmax(axis=1))
