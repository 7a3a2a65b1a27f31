"""Ledger scale: 100 runs x 10,000 canaries, then one canary's timeline (target < 1 s).

Writes a ledger of synthetic runs (10 classes; a blessing every 5th run) into a temporary folder,
then times, in a fresh connection as `modelgate history --canary` would: opening the ledger and
answering one canary's timeline, and a tag's. Prints those times, the time to record one run,
and the ledger's size. Run: python benchmarks/history.py [--runs 100] [--canaries 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from modelgate.history.ledger import NewRun, RunKind, SuiteRows, open_ledger
from modelgate.history.timeline import canary_timeline, tag_timeline

CLASSES = tuple(str(c) for c in range(10))


def build(path: Path, n_runs: int, n: int) -> float:
    """Record `n_runs` runs; returns the mean seconds per recorded run."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % len(CLASSES)
    tags = tuple(("protected",) if i % 100 == 0 else () for i in range(n))
    suite = SuiteRows("s" * 64, "bench", 1, CLASSES, tuple(f"canary-{i:07d}" for i in range(n)),
                      labels, tags)  # fmt: skip
    base = rng.normal(0, 1, (n, len(CLASSES))).astype(np.float32)
    base[np.arange(n), labels] += 4
    spent = 0.0
    for r in range(n_runs):
        z = base + rng.normal(0, 0.5, base.shape).astype(np.float32)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        kind = RunKind.BLESS if r % 5 == 0 else RunKind.CHECK
        run = NewRun(kind, f"2024-01-01T00:{r // 60:02d}:{r % 60:02d}+00:00", None,
                     f"{r:064x}", f"models/v{r}.safetensors", "state_dict", False, "c" * 64,
                     "baseline.json", None, "passed", {"checks": {}}, "bench")  # fmt: skip
        start = time.perf_counter()
        with open_ledger(path) as ledger:
            ledger.record(run, suite, logp, logp.argmax(axis=1))
        spent += time.perf_counter() - start
    return spent / n_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--canaries", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.sqlite"
        per_run = build(path, args.runs, args.canaries)
        canary = f"canary-{args.canaries // 2:07d}"
        start = time.perf_counter()
        with open_ledger(path, create=False) as ledger:
            points = canary_timeline(ledger, canary)
        timeline = time.perf_counter() - start
        start = time.perf_counter()
        with open_ledger(path, create=False) as ledger:
            tagged = tag_timeline(ledger, "protected")
            size = ledger.size_bytes
        tag_time = time.perf_counter() - start
    assert len(points) == args.runs and len(tagged) == args.runs
    print(f"ledger: {args.runs} runs x {args.canaries:,} canaries, {size / 2**20:.1f} MiB")
    print(f"record one run:           {per_run * 1000:8.1f} ms (mean)")
    print(f"one canary's timeline:    {timeline * 1000:8.1f} ms (target < 1000 ms)")
    print(f"tag timeline ({args.canaries // 100} canaries): {tag_time * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
