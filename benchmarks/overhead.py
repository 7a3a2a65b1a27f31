"""Overhead of `modelgate check` (no probes) against the raw batched torch inference loop.

Two cases, each timed as child processes of this one (so peak RSS is each child's own, read
with wait4), over the same suite file:
  raw   - load the candidate (safetensors + factory) and run the plain `model(batch)` loop under
          torch.inference_mode over the memory-mapped suite, batch size 256;
  check - the real `modelgate check` command with `probes: off` and the default reports (JSON,
          JUnit, Markdown) and ledger: config, suite digest verification, baseline read,
          candidate load, inference, statistics, drift, ledger, reports.

typical (default): 10,000 32x32 RGB canaries and a small CNN (inference dominates).
--worst:           the worst case for overhead: a tiny CNN (8x8 grey canaries, ~5k parameters)
                   at 10^4, 10^5 and 10^6 canaries (`--sizes`), the baseline blessed from another
                   random model, so most canaries flip and every per-canary path is exercised.

Prints per size: raw and check seconds (best of `--repeats`), the ratio (target <= 1.15), peak
RSS of each and its ratio (target <= 1.5), the ledger's growth for a new candidate's check and
for a check of the same candidate again (nothing changed), the size of the three reports, and
the ratio of CPU seconds (user + system, best of each; steadier than wall time under load).
Run: python benchmarks/overhead.py [--worst] [--sizes 10000 100000 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TYPICAL = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build(seed=0):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Linear(64, 10),
        )
    """
)

TINY = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build(seed=0):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Linear(64, 10),
        )
    """
)

CONFIG = """\
version: 1
suite: suite
candidate: {path: candidate.safetensors, factory: "model.py:build"}
baseline: baseline.json
probes: off
inference: {batch_size: 256}
output: {dir: reports}
"""

RAW = """\
import sys, time
import numpy as np, torch
from safetensors.torch import load_file
sys.path.insert(0, sys.argv[1])
import model
m = model.build()
m.load_state_dict(load_file(sys.argv[1] + "/candidate.safetensors"))
m.eval()
x = np.load(sys.argv[1] + "/suite/inputs.npy", mmap_mode="r")
with torch.inference_mode():
    for i in range(0, len(x), 256):
        m(torch.from_numpy(np.array(x[i : i + 256])))
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    rss_mib: float
    cpu_s: float  # user + system, every thread: steadier than wall time on a shared machine


def _child(args: list[str], cwd: Path) -> Run:
    """Wall time and peak RSS of one child process (its own, from wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):  # 1: the gate found the flips, as it should
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}:\n{err}")
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def _ledger_bytes(root: Path) -> int:
    """The ledger file and its write-ahead log."""
    files = [root / ".modelgate" / n for n in ("history.sqlite", "history.sqlite-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


def build_project(root: Path, n: int, worst: bool) -> Path:
    """Suite, candidate and baseline in `root`; in the worst case the baseline is blessed from
    another random model, so most canaries flip."""
    from safetensors.torch import save_file

    from modelgate.config import load_config
    from modelgate.engine.bless import bless
    from modelgate.suite.freeze import init_suite

    rng = np.random.default_rng(0)
    shape = (1, 8, 8) if worst else (3, 32, 32)
    x = rng.random((n, *shape), dtype=np.float32)
    init_suite(
        root / "suite",
        name="bench",
        modality="image",
        inputs=x,
        labels=[str(i % 10) for i in range(n)],
        classes=[str(c) for c in range(10)],
        curated_by="benchmark",
        source="uniform noise, seed 0",
    )
    del x
    factory = TINY if worst else TYPICAL
    (root / "model.py").write_text(factory)
    namespace: dict[str, object] = {}
    exec(factory, namespace)  # the same factory the gate imports
    build = namespace["build"]
    (root / "modelgate.yaml").write_text(CONFIG)
    save_file(build(1 if worst else 0).state_dict(), str(root / "candidate.safetensors"))  # type: ignore[operator]
    bless(load_config(root / "modelgate.yaml"))
    if worst:  # the candidate under test is another model than the blessed one
        save_file(build(2).state_dict(), str(root / "candidate.safetensors"))  # type: ignore[operator]
    return root / "modelgate.yaml"


def measure(n: int, worst: bool, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Built in a child: a child's peak RSS counts the parent's pages it was forked from, so
        # this process must stay small (no torch, no suite in memory).
        build = [sys.executable, __file__, "--build", str(root), str(n)] + ["--worst"] * worst
        subprocess.run(build, check=True)
        config = root / "modelgate.yaml"
        raw_cmd = [sys.executable, "-c", RAW, str(root)]
        check_cmd = [sys.executable, "-m", "modelgate", "check", "-c", str(config), "-q"]
        _child(raw_cmd, root)  # warm up: page cache, imports
        sizes = [_ledger_bytes(root)]
        _child(check_cmd, root)  # a new candidate: its predictions are stored
        sizes.append(_ledger_bytes(root))
        raws, checks = [], []
        for _ in range(repeats):  # interleaved, so a change in the machine's load hits both
            raws.append(_child(raw_cmd, root))
            checks.append(_child(check_cmd, root))  # nothing changed: shared in the ledger
        sizes.append(_ledger_bytes(root))
        reports = sum(f.stat().st_size for f in (root / "reports").iterdir())
    raw = min(r.seconds for r in raws)
    check = min(c.seconds for c in checks)
    raw_cpu = min(r.cpu_s for r in raws)
    check_cpu = min(c.cpu_s for c in checks)
    raw_rss = max(r.rss_mib for r in raws)
    check_rss = max(c.rss_mib for c in checks)
    return {
        "canaries": n,
        "raw_s": raw,
        "check_s": check,
        "ratio": check / raw,
        "cpu_ratio": check_cpu / raw_cpu,
        "raw_rss": raw_rss,
        "check_rss": check_rss,
        "rss_ratio": check_rss / raw_rss,
        "ledger_first_mib": (sizes[1] - sizes[0]) / 2**20,
        "ledger_again_mib": (sizes[2] - sizes[1]) / 2**20 / repeats,
        "reports_mib": reports / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worst", action="store_true", help="tiny model, most canaries flip")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--build", nargs=2, metavar=("ROOT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build_project(Path(args.build[0]), int(args.build[1]), args.worst)
        return
    sizes = args.sizes or ([10_000, 100_000, 1_000_000] if args.worst else [10_000])
    case = "worst case: tiny CNN, 8x8 canaries, most flip" if args.worst else "small CNN, 32x32"
    print(
        f"{case}; {os.cpu_count()} CPUs; best of {args.repeats}, raw and check interleaved; "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    print(
        f"{'canaries':>10} {'raw s':>8} {'check s':>8} {'ratio':>6} {'raw MiB':>8} "
        f"{'check MiB':>9} {'ratio':>6} {'ledger +MiB new/same':>21} {'reports MiB':>11} "
        f"{'cpu ratio':>9}"
    )
    for n in sizes:
        r = measure(n, args.worst, args.repeats)
        print(
            f"{r['canaries']:>10,} {r['raw_s']:>8.2f} {r['check_s']:>8.2f} {r['ratio']:>6.2f} "
            f"{r['raw_rss']:>8.0f} {r['check_rss']:>9.0f} {r['rss_ratio']:>6.2f} "
            f"{r['ledger_first_mib']:>12.2f} / {r['ledger_again_mib']:<6.3f} "
            f"{r['reports_mib']:>11.2f} {r['cpu_ratio']:>9.2f}",
            flush=True,
        )
    print("targets: check/raw <= 1.15, peak RSS check/raw <= 1.5")


if __name__ == "__main__":
    main()
