"""Overhead of `modelgate check` (no probes) against the raw batched torch inference loop.

Builds a suite of 10,000 32x32 RGB canaries and a small CNN in a temporary folder, blesses a
baseline, then times, in one process and over the same tensors:
  raw   - the plain `model(batch)` loop under torch.inference_mode, batch size 256;
  check - `run_gate(config)` + writing the JSON, JUnit and Markdown reports: config load, suite
          digest verification, baseline read, candidate load, inference, statistics, reports.
Prints the ratio check / raw (target <= 1.15). Run: python benchmarks/overhead.py [--canaries N]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from modelgate.config import load_config
from modelgate.gate import bless, run_gate
from modelgate.report import default_targets, write_reports
from modelgate.suite.freeze import init_suite

FACTORY = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
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


def build_project(root: Path, n: int) -> Path:
    from safetensors.torch import save_file

    rng = np.random.default_rng(0)
    x = rng.random((n, 3, 32, 32), dtype=np.float32)
    labels = [str(i % 10) for i in range(n)]
    init_suite(
        root / "suite",
        name="bench",
        modality="image",
        inputs=x,
        labels=labels,
        classes=[str(c) for c in range(10)],
        curated_by="benchmark",
        source="uniform noise, seed 0",
    )
    (root / "model.py").write_text(FACTORY)
    namespace: dict[str, object] = {}
    exec(FACTORY, namespace)  # the same factory the gate imports
    model = namespace["build"]()  # type: ignore[operator]
    save_file(model.state_dict(), str(root / "candidate.safetensors"))
    (root / "modelgate.yaml").write_text(CONFIG)
    bless(load_config(root / "modelgate.yaml"))
    return root / "modelgate.yaml"


def raw_loop(root: Path, batch_size: int) -> float:
    from safetensors.torch import load_file

    namespace: dict[str, object] = {}
    exec(FACTORY, namespace)
    model = namespace["build"]()  # type: ignore[operator]
    model.load_state_dict(load_file(str(root / "candidate.safetensors")))
    model.eval()
    x = np.load(root / "suite" / "inputs.npy", mmap_mode="r")
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            model(torch.from_numpy(np.array(x[i : i + batch_size])))
    return time.perf_counter() - start


def gate(config_path: Path) -> float:
    start = time.perf_counter()
    config = load_config(config_path)
    result = run_gate(config)
    write_reports(result, default_targets(config.resolve("reports")))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = build_project(root, args.canaries)
        raw_loop(root, 256)  # warm up: page cache, allocator, thread pool
        gate(config)
        raw = min(raw_loop(root, 256) for _ in range(args.repeats))
        check = min(gate(config) for _ in range(args.repeats))
    print(f"canaries: {args.canaries}  torch threads: {torch.get_num_threads()}")
    print(f"raw torch loop:  {raw:8.3f} s")
    print(f"modelgate check: {check:8.3f} s")
    print(f"ratio check/raw: {check / raw:8.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
