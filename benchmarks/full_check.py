"""Cost of one full `modelgate check` (default probes and inversion) against its parameters.

Builds, per configuration, a CNN of about `--params` parameters and `--classes` classes,
trained for one epoch on synthetic 28x28 class prototypes with noise (so the model has real
classes for the inversion to search), a suite of `--canaries` canaries of the same kind, blesses
it (the blessed record stores the probe and inversion results, as in CI) and times one
`modelgate check` of the same model in this process; the check and the bless each run every
probe and search every class, with the default count budgets. Prints, per configuration, the
parameters, classes, canaries, the classes searched, the check's wall seconds split into the
rest (load, inference, statistics, reports), probes and inversion, and its CPU seconds (all
threads; steadier than wall time on a shared machine), best of `--repeats`; and the bless's.

The cost law is read off a grid: `--grid` adds ~0.25M parameters, 2,000 canaries and 100 classes
to the base case (1M parameters, 10 classes, 1,000 canaries), one change at a time.
`--calibrate N` instead trains N clean retrains (other seeds) and times `modelgate calibrate`
with them against one check of the same project.
Run: python benchmarks/full_check.py [--params 1000000] [--classes 10] [--canaries 1000]
     [--grid] [--repeats 1] [--threads 2] [--calibrate N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIDE = 28
FACTORY = """\
from torch import nn

def build():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, {hidden}), nn.ReLU(), nn.Linear({hidden}, {classes}))
"""


def hidden_for(params: int, classes: int) -> int:
    """The hidden width whose network has about `params` parameters."""
    fixed = 16 * 9 + 16 + 32 * 16 * 9 + 32  # the two convolutions
    # 1568 * h + h (first linear) + h * k + k (last linear)
    return max(8, round((params - fixed - classes) / (32 * 7 * 7 + 1 + classes)))


def build_project(
    folder: Path, params: int, classes: int, canaries: int, controls: int = 0
) -> dict[str, Any]:
    import torch
    from safetensors.torch import save_file
    from torch import nn

    from modelgate.suite.freeze import init_suite

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    protos = rng.uniform(0, 1, size=(classes, 7, 7)).repeat(4, 1).repeat(4, 2)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(count) % classes
        x = np.clip(protos[y] + rng.normal(0, 0.35, (count, SIDE, SIDE)), 0, 1)
        return x[:, None].astype(np.float32), y.astype(np.int64)

    factory = FACTORY.format(hidden=hidden_for(params, classes), classes=classes)
    (folder / "model.py").write_text(factory)
    namespace: dict[str, Any] = {}
    exec(factory, namespace)  # our own factory text, written just above
    x, y = draw(max(4000, 40 * classes))

    def train(seed: int, name: str) -> nn.Module:
        torch.manual_seed(seed)  # a clean retrain: the same recipe, another seed
        model: nn.Module = namespace["build"]()
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        for batch in torch.randperm(len(y)).split(64):
            opt.zero_grad()
            logits = model(torch.from_numpy(x[batch]))
            loss = nn.functional.cross_entropy(logits, torch.from_numpy(y[batch]))
            loss.backward()
            opt.step()
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / name))
        return model

    model = train(0, "model.safetensors")
    for c in range(controls):
        train(1 + c, f"control{c}.safetensors")
    cx, cy = draw(canaries)
    init_suite(
        folder / "suite",
        name="cost",
        modality="image",
        inputs=cx,
        labels=[str(c) for c in cy],
        classes=[str(c) for c in range(classes)],
        curated_by="benchmark",
        source="synthetic",
    )
    (folder / "modelgate.yaml").write_text(
        "version: 1\nsuite: suite\ncandidate: {path: model.safetensors, factory: model.py:build}\n"
        "baseline: b.json\nhistory: {enabled: false}\n"
        + ("calibration: b.calibration.json\n" if controls else "")
    )
    return {"parameters": sum(p.numel() for p in model.parameters())}


def _phases(run: Any) -> dict[str, Any]:
    """Seconds of the probes and of the inversion, timed around the engine's own calls."""
    import modelgate.probes.invert as invert_module
    import modelgate.probes.run as run_module

    spent: dict[str, Any] = {"probes": 0.0, "inversion": 0.0}
    real = (invert_module.invert, run_module.measure)

    def timed(name: str, f: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t0

        return wrapper

    invert_module.invert = timed("inversion", real[0])
    run_module.measure = timed("probes", real[1])  # type: ignore[assignment]
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        spent["result"] = run()
        spent["total"] = time.perf_counter() - t0
        spent["cpu"] = time.process_time() - c0  # every thread's: less noisy under load
    finally:
        invert_module.invert, run_module.measure = real  # type: ignore[assignment]
    return spent


def measure(params: int, classes: int, canaries: int, repeats: int) -> dict[str, Any]:
    from modelgate.config import load_config
    from modelgate.engine.bless import bless
    from modelgate.engine.check import run_gate

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "p"
        built = build_project(folder, params, classes, canaries)
        config = folder / "modelgate.yaml"
        blessed = _phases(lambda: bless(load_config(config)))
        checks = [_phases(lambda: run_gate(load_config(config))) for _ in range(repeats)]
        header = json.loads((folder / "b.json").read_text())["header"]
    # Without a check (the grid), the bless stands in: it runs the same probes and search.
    best = min(checks, key=lambda c: c["total"]) if checks else blessed
    return {
        **built,
        "classes": classes,
        "canaries": canaries,
        "searched": sum(v is not None for v in header["inversion"]["norms"]),
        "probes": len(header["probes"]["hits"]),
        "what": "check" if checks else "bless",
        "wall_s": best["total"],
        "cpu_s": best["cpu"],
        "probes_s": best["probes"],
        "inversion_s": best["inversion"],
        "rest_s": best["total"] - best["probes"] - best["inversion"],
        "bless_s": blessed["total"],
        "verdict": best["result"].verdict.value if checks else "blessed",
    }


def measure_calibrate(params: int, classes: int, canaries: int, controls: int) -> None:
    """One check against `calibrate` with `controls` clean retrains, the ratio of their times."""
    from modelgate.config import load_config
    from modelgate.engine.bless import bless
    from modelgate.engine.calibrate import calibrate_controls
    from modelgate.engine.check import run_gate

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "p"
        built = build_project(folder, params, classes, canaries, controls)
        config = folder / "modelgate.yaml"
        text = config.read_text()
        config.write_text(text.replace("calibration: b.calibration.json\n", ""))
        bless(load_config(config))
        check = _phases(lambda: run_gate(load_config(config)))
        config.write_text(text)
        names = [str(folder / f"control{c}.safetensors") for c in range(controls)]
        calib = _phases(lambda: calibrate_controls(load_config(config), names))
    print(
        f"{built['parameters']:,} parameters, {classes} classes, {canaries:,} canaries: check "
        f"{check['total']:.1f} s ({check['cpu']:.1f} s CPU; probes {check['probes']:.1f}, "
        f"inversion {check['inversion']:.1f}); calibrate with {controls} controls "
        f"{calib['total']:.1f} s ({calib['cpu']:.1f} s CPU; probes {calib['probes']:.1f}) = "
        f"{calib['total'] / check['total']:.2f} checks ({calib['cpu'] / check['cpu']:.2f} in CPU); "
        f"per control {calib['total'] / controls / check['total']:.2f} checks "
        f"({calib['cpu'] / controls / check['cpu']:.2f} in CPU), so 20 controls about "
        f"{20 * calib['cpu'] / controls / check['cpu']:.1f} checks in CPU (target <= 4); "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--canaries", type=int, default=1000)
    parser.add_argument("--grid", action="store_true", help="the cost-law grid around the base")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument(
        "--calibrate", type=int, metavar="N", default=0, help="time calibrate with N controls"
    )
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.calibrate:
        measure_calibrate(args.params, args.classes, args.canaries, args.calibrate)
        return
    base = (args.params, args.classes, args.canaries)
    configs = [(*base, args.repeats)]
    if args.grid:  # timed by their bless (the same probes and search as a check), to save time
        p, k, n = base
        configs += [(p // 4, k, n, 0), (p, k, 2 * n, 0), (p, 100, n, 0)]
    print(
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"best of {args.repeats}; load average {os.getloadavg()[0]:.1f} at the start"
    )
    print(
        f"{'params':>10} {'classes':>7} {'canaries':>8} {'searched':>8} {'probes':>6} {'timed':>5} "
        f"{'wall s':>7} {'= rest':>7} {'+ probes':>8} {'+ invert':>8} {'cpu s':>7} {'bless s':>8}"
    )
    for p, k, n, repeats in configs:
        r = measure(p, k, n, repeats)
        print(
            f"{r['parameters']:>10,} {r['classes']:>7} {r['canaries']:>8,} {r['searched']:>8} "
            f"{r['probes']:>6} {r['what']:>5} {r['wall_s']:>7.1f} {r['rest_s']:>7.1f} "
            f"{r['probes_s']:>8.1f} {r['inversion_s']:>8.1f} {r['cpu_s']:>7.1f} "
            f"{r['bless_s']:>8.1f}  {r['verdict']}  (load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    print("target: 1M parameters, 10 classes, 1,000 canaries: check <= 120 s on 2 cores")


if __name__ == "__main__":
    sys.exit(main())
