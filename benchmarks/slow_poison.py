"""Slow poisoning: a label flip that grows by a few percent per retrain, each step blessed.

For each example (image: digits; text; tabular) and class pair, a chain of retrains relabels
`--step` (3%) more of the source class as the destination at every step (3%, 6%, ...). The team's
workflow is followed to the letter: `check` the retrain against the current baseline; if it
passes, `bless` it and re-run `calibrate` with the same clean control retrains (4 or 20); the
run ledger is on, so `drift` compares every candidate with the earlier blessings too. Prints,
per chain, the first step that fails, the checks that fail there and whether a failing finding
names the attacked pair. Run: python benchmarks/slow_poison.py [--modality ...] [--steps N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from detection import (  # noqa: E402
    Example,
    image_example,
    names_pair,
    tabular_example,
    text_example,
)

from modelgate.config import Config, HistorySpec, load_config, with_candidate_path  # noqa: E402
from modelgate.engine.bless import bless  # noqa: E402
from modelgate.engine.calibrate import calibrate_controls  # noqa: E402
from modelgate.engine.check import run_gate  # noqa: E402


def chain_config(ex: Example, folder: Path) -> Config:
    """The example's config with its own baseline, calibration and ledger in `folder`."""
    config = load_config(ex.config)
    update: dict[str, Any] = {
        "baseline": str(folder / "baseline.json"),
        "calibration": str(folder / "calibration.json"),
        "history": HistorySpec(enabled=True, path=str(folder / "history.sqlite")),
        "waivers": None,
    }
    return replace(config, settings=config.settings.model_copy(update=update))


def run_chain(
    ex: Example,
    pair: tuple[int, int],
    n_controls: int,
    steps: int,
    folder: Path,
    seed: int,
    step_size: float,
) -> dict[str, Any]:
    folder.mkdir(parents=True)
    config = chain_config(ex, folder)
    src, dst = pair
    start = ex.save(ex.train(seed=seed), folder / "v0.safetensors")
    bless(with_candidate_path(config, start))
    calibrate_controls(config, ex.controls[:n_controls])
    for step in range(1, steps + 1):
        model = ex.train(seed=seed + step, flip=(src, dst, step_size * step))
        path = ex.save(model, folder / f"v{step}.safetensors")
        result = run_gate(with_candidate_path(config, path))
        failed = sorted(c.name for c in result.checks if c.status.value == "failed")
        if failed:
            names = result.suite.classes
            return {
                "step": step,
                "fraction": round(step_size * step, 4),
                "failed": failed,
                "named": names_pair(result, names[src], names[dst]),
            }
        bless(with_candidate_path(config, path))
        calibrate_controls(config, ex.controls[:n_controls])
    return {"step": None, "fraction": None, "failed": [], "named": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modality", default="all", choices=["image", "tabular", "text", "all"])
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=2, help="class pairs per example")
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--step", type=float, default=0.03, help="flip added per retrain")
    args = parser.parse_args()
    makers = {"image": image_example, "text": text_example, "tabular": tabular_example}
    chosen = list(makers) if args.modality == "all" else [args.modality]
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            ex = makers[name](Path(tmp))
            for k, pair in enumerate(ex.pairs[: args.pairs]):
                for n in (4, 20):
                    seed = 7000 + args.seed_offset + 100 * k
                    folder = Path(tmp) / f"{name}-{k}-{n}"
                    out = run_chain(ex, pair, n, args.steps, folder, seed, args.step)
                    rows.append({"modality": name, "pair": pair, "controls": n, **out})
                    print(f"{name} {pair} controls {n}: {out}", file=sys.stderr)
    print(f"{'modality':8s} {'pair':8s} {'controls':>8s}  first failing step (flip)  checks")
    for r in rows:
        step = "never" if r["step"] is None else f"{r['step']} ({r['fraction']:.1%})"
        named = " (names the pair)" if r["named"] else (" (wrong pair)" if r["failed"] else "")
        print(f"{r['modality']:8s} {r['pair']!s:8s} {r['controls']:8d}  {step:24s} "
              f"{','.join(r['failed'])}{named}")  # fmt: skip
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
