"""Scaling out: one process, 2 shards + merge, and the Ray engine, on the same worst-case suite.

The project is `benchmarks/overhead.py`'s worst case (a ~5k-parameter CNN on 8x8 canaries,
the baseline blessed from another random model so most canaries flip, `probes: off`), built
by its own `build_project`. Each path runs the real command as a child process, timed from
outside with its own peak RSS (wait4):

  single  - `modelgate check`
  shard   - `modelgate check --shard K/2` for K = 1, 2 (run one after the other here), then
            `modelgate merge` of the two parts; also `--shard 1/1` (the whole suite as one
            shard), which with the two halves gives a shard's fixed cost and its cost per
            canary
  ray     - `modelgate check` with `inference: {engine: ray}` (2 workers here: a local Ray started
            and stopped by the run, as a CI job without a cluster would); its peak RSS is the
            driver's (each worker is a process of its own)

Every path's reports are compared with the single process's (timestamps, and for Ray the
config's name and digest, blanked). From the measured costs it prints the wall time expected on
N machines: max(shard of n/N canaries) + merge, with a shard = fixed + per-canary x n/N.
Run: nice python benchmarks/scale.py [--sizes 100000 1000000] [--repeats 1] [--threads 1] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Run:
    seconds: float  # wall
    cpu: float  # user + system seconds of the child and its children (Ray workers are not)
    rss_mib: float


def _child(args: list[str], cwd: Path) -> Run:
    """Wall time, CPU time and peak RSS of one child process (wait4, as overhead.py does)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if code not in (0, 1):  # 1: the gate found the flips, as it should
        raise SystemExit(f"{' '.join(args)} exited {code}:\n{err}")
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


_TIMES = re.compile(
    rb'("(started|finished)_at": "[^"]*"|timestamp="[^"]*"|time="[0-9.]+"|seconds": [0-9.e-]+)'
)
_CONFIG = re.compile(rb"(ray|modelgate)\.yaml( \([0-9a-f]{12}\))?|[0-9a-f]{64}")


def reports(folder: Path, *, config_blind: bool) -> dict[str, bytes]:
    def clean(data: bytes) -> bytes:
        data = _TIMES.sub(b"T", data)
        return _CONFIG.sub(b"C", data) if config_blind else data

    return {p.name: clean(p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()}


def best(runs: list[Run]) -> Run:
    return Run(min(r.seconds for r in runs), min(r.cpu for r in runs), max(r.rss_mib for r in runs))


def measure(n: int, repeats: int, with_ray: bool, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        overhead = Path(__file__).resolve().parent / "overhead.py"
        subprocess.run(
            [sys.executable, str(overhead), "--build", str(root), str(n), "--worst"], check=True
        )
        config = root / "modelgate.yaml"
        text = config.read_text()
        if threads:
            text = text.replace("inference: {", f"inference: {{threads: {threads}, ")
            config.write_text(text)
        ray_config = root / "ray.yaml"
        ray_config.write_text(text.replace("batch_size: 256}", "batch_size: 256, engine: ray}"))
        mg = [sys.executable, "-m", "modelgate"]

        def check(cfg: Path, out: str, *extra: str) -> list[str]:
            return [*mg, "check", "-c", str(cfg), "--output-dir", str(root / out), "-q", *extra]

        _child(check(config, "warm"), root)  # page cache, imports, the ledger knows the run
        single, shards, whole, merges, rays = [], [[], []], [], [], []
        for _ in range(repeats):  # interleaved, so a change in the machine's load hits all
            single.append(_child(check(config, "single"), root))
            for k in (1, 2):
                part = [*mg, "check", "-c", str(config), "--shard", f"{k}/2"]
                shards[k - 1].append(_child([*part, "--part-dir", str(root / "parts")], root))
            merge = [*mg, "merge", "-c", str(config), str(root / "parts")]
            merges.append(_child([*merge, "--output-dir", str(root / "merged"), "-q"], root))
            one = [*mg, "check", "-c", str(config), "--shard", "1/1"]
            whole.append(_child([*one, "--part-dir", str(root / "whole")], root))
            if with_ray:
                rays.append(_child(check(ray_config, "ray"), root))
        expected = reports(root / "single", config_blind=False)
        same_merge = reports(root / "merged", config_blind=False) == expected
        same_ray = (
            reports(root / "ray", config_blind=True) == reports(root / "single", config_blind=True)
            if with_ray
            else None
        )
    return {
        "n": n,
        "single": best(single),
        "shard1": best(shards[0]),
        "shard2": best(shards[1]),
        "whole": best(whole),
        "merge": best(merges),
        "ray": best(rays) if with_ray else None,
        "same_merge": same_merge,
        "same_ray": same_ray,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray path")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="inference.threads of every path (default 1: then CPU seconds measure the work, "
        "not threads spinning while they wait for a core of a shared machine); 0: torch's own",
    )
    args = parser.parse_args()
    with_ray = not args.no_ray
    if with_ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            print('ray is not installed (pip install "modelgate[ray]"): skipping the Ray path')
            with_ray = False
    print(
        f"worst case (tiny CNN, 8x8 canaries, most flip, probes off); {os.cpu_count()} CPUs; "
        f"inference.threads {args.threads or 'torch default'}; "
        f"best of {args.repeats}; load average {os.getloadavg()[0]:.1f} at the start"
    )
    head = (
        f"{'canaries':>10} {'path':<28} {'wall s':>8} {'CPU s':>8} {'canaries/s':>11} "
        f"{'peak MiB':>9} {'wall vs single':>14}"
    )
    print(head)
    for n in args.sizes:
        r = measure(n, args.repeats, with_ray, args.threads)
        single = r["single"]
        rows = [
            ("single process", single),
            ("shard 1/2", r["shard1"]),
            ("shard 2/2", r["shard2"]),
            ("merge (statistics, reports)", r["merge"]),
            ("shard 1/1 (whole suite)", r["whole"]),
        ]
        if r["ray"] is not None:
            rows.append(("ray (2 workers, own Ray)", r["ray"]))
        for name, run in rows:
            print(
                f"{n:>10,} {name:<28} {run.seconds:>8.2f} {run.cpu:>8.2f} "
                f"{n / run.seconds:>11,.0f} {run.rss_mib:>9.0f} "
                f"{run.seconds / single.seconds:>13.2f}x"
            )
        s1, s2, whole, merge = (r[k] for k in ("shard1", "shard2", "whole", "merge"))
        total = s1.seconds + s2.seconds + merge.seconds
        print(
            f"{n:>10,} 2 shards + merge on one machine: {total:.2f} s wall "
            f"({total / single.seconds:.2f}x single); reports identical: {r['same_merge']}"
            + (f"; ray reports identical: {r['same_ray']}" if r["ray"] is not None else "")
        )
        # A shard's cost = fixed + per canary x its canaries, from CPU seconds (far less noisy
        # than wall time on a shared machine): the whole suite as one shard and the two halves.
        half = (s1.cpu + s2.cpu) / 2
        per_canary = 2 * (whole.cpu - half) / n
        fixed = whole.cpu - per_canary * n
        if per_canary <= 0:
            print(f"{n:>10,} too noisy to fit a shard's costs ({whole.cpu:.1f} / {half:.1f} CPU s)")
            continue
        print(
            f"{n:>10,} a shard costs {fixed:.2f} CPU s fixed + {per_canary * 1e6:.1f} CPU us per "
            f"canary; the merge {merge.cpu:.2f} CPU s. Expected on N machines (max shard + merge, "
            "CPU s): "
            + ", ".join(
                f"N={m}: {fixed + per_canary * n / m + merge.cpu:.1f}" for m in (1, 2, 4, 8, 16)
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
