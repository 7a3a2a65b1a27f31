"""Detection quality: false alarms on clean retrains vs detection of poisoned retrains.

Trains, on the bundled digits example (CPU, ~1 s a model):
  clean     - 20 retrains: new seeds, 90-100% of the data, small learning-rate / epoch nudges;
  labelflip - targeted label flips of 5%, 10%, 20% and 40% of a class, over 4 class pairs;
  targeted  - instance-targeted attacks on protected canaries: near-copies of one protected canary
              injected into training with another label (the canary itself never trains);
runs the real gate (`run_gate`, the engine behind `modelgate check`) on each against the blessed
baseline of the example, and prints false alarms and detection rates with Wilson 95% intervals.
Run: python benchmarks/detection.py [--seed-offset N] [--no-calibration] [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits"
sys.path.insert(0, str(EXAMPLE))

import digits_data  # noqa: E402
import train  # noqa: E402
from intervals import wilson  # noqa: E402

from modelgate.config import HistorySpec, load_config, with_candidate_path  # noqa: E402
from modelgate.gate import run_gate  # noqa: E402
from modelgate.result import Finding  # noqa: E402

PAIRS = [(7, 1), (3, 8), (4, 9), (2, 5)]
FRACTIONS = [0.05, 0.10, 0.20, 0.40]


def names_pair(finding: Finding, src: str, dst: str) -> bool:
    """Whether a finding points at the attacked pair: its cell src -> dst, or class src losing."""
    evidence = dict(finding.evidence)
    if evidence.get("from") == src and evidence.get("to") == dst:
        return True
    return finding.check == "stats.per_class" and evidence.get("class") == src


def clean_recipes(n: int, offset: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(1234 + offset)
    recipes = []
    for i in range(n):
        recipes.append(
            {
                "seed": 100 + offset + i,
                "data_fraction": float(rng.choice([0.9, 0.95, 1.0])),
                "lr": float(train.LR * rng.choice([0.8, 1.0, 1.2])),
                "epochs": round(train.EPOCHS * float(rng.choice([0.9, 1.0, 1.1]))),
            }
        )
    return recipes


def targeted_extra(
    canary: int, target: int, copies: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Near-copies of one canary (pixel noise), labelled `target`: the attacker's poison."""
    _, x, _ = digits_data.canaries()
    rng = np.random.default_rng(seed)
    base = np.repeat(x[canary : canary + 1], copies, axis=0)
    noisy = np.clip(base + rng.normal(0, 0.08, size=base.shape), 0, 1).astype(np.float32)
    return noisy, np.full(copies, target, dtype=np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer models (smoke run)")
    parser.add_argument("--json", help="also write per-model results here")
    parser.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="shift every training seed: another draw of models (the README reports the "
        "draws 0, 1000 and 2000)",
    )
    parser.add_argument(
        "--no-calibration",
        action="store_true",
        help="ignore the example's calibration record: what a team gets before it runs "
        "`modelgate calibrate` (every null self-calibrated from the pair being judged)",
    )
    args = parser.parse_args()
    example = load_config(EXAMPLE / "modelgate.yaml")
    # One step against the blessed baseline: no ledger writes into the example, no drift check.
    update: dict[str, object] = {"history": HistorySpec(enabled=False)}
    if args.no_calibration:
        update["calibration"] = None
    config = replace(example, model=example.model.model_copy(update=update))
    n_clean = 6 if args.quick else 20
    jobs: list[tuple[str, str, dict[str, object]]] = []
    for recipe in clean_recipes(n_clean, args.seed_offset):
        jobs.append(("clean", "clean retrain", recipe))
    for fraction in FRACTIONS[:: 2 if args.quick else 1]:
        for k, (src, dst) in enumerate(PAIRS[: 2 if args.quick else 4]):
            for rep in range(1 if args.quick else 2):
                jobs.append(
                    (
                        "labelflip",
                        f"label flip {int(fraction * 100)}%",
                        {
                            "seed": 200 + args.seed_offset + 10 * k + rep,
                            "flip": (src, dst, fraction),
                        },
                    )
                )
    _, _, labels = digits_data.canaries()
    suite_tags = [
        line.split(",")[2]
        for line in (ROOT / "canaries/digits/samples.csv").read_text().splitlines()[1:]
    ]
    protected = [i for i, t in enumerate(suite_tags) if "protected" in t.split()]
    for j, canary in enumerate(protected[: 2 if args.quick else 6]):
        target = (int(labels[canary]) + 3) % 10
        jobs.append(
            (
                "targeted",
                "protected canary",
                {
                    "seed": 300 + args.seed_offset + j,
                    "extra": targeted_extra(canary, target, 40, seed=j + args.seed_offset),
                    "_canary": canary,
                    "_target": target,
                },
            )
        )

    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n, (family, strength, recipe) in enumerate(jobs):
            kwargs = {k: v for k, v in recipe.items() if not k.startswith("_")}
            model = train.train(**kwargs)  # type: ignore[arg-type]
            path = train.save(model, Path(tmp) / f"m{n}.safetensors")
            result = run_gate(with_candidate_path(config, path))
            failed = sorted(c.name for c in result.checks if c.status.value == "failed")
            row = {
                "family": family,
                "strength": strength,
                "failed": failed,
                "accuracy": round(result.metrics.candidate_accuracy, 4),
                "negative_flips": result.metrics.negative_flips,
            }
            if family == "labelflip":
                src, dst, _ = recipe["flip"]  # type: ignore[misc]
                moved = sum(
                    1 for f in result.flips if f.label == str(src) and f.candidate == str(dst)
                )
                row["moved"] = moved
                row["recipe"] = f"{src}->{dst} seed {recipe['seed']}"
                # Caught for the right reason: a failing finding names the attacked pair.
                row["named"] = any(
                    names_pair(f, str(src), str(dst))
                    for c in result.checks
                    if c.status.value == "failed"
                    for f in c.findings
                )
            if family == "targeted":
                canary = int(recipe["_canary"])  # type: ignore[call-overload]
                cid = f"digits-{canary + 1:04d}"
                flip = next((f for f in result.flips if f.id == cid), None)
                row["success"] = flip is not None and flip.candidate == str(recipe["_target"])
                row["recipe"] = cid
                row["named"] = any(
                    cid in f.canaries
                    for c in result.checks
                    if c.status.value == "failed"
                    for f in c.findings
                )
            results.append(row)
            print(
                f"[{n + 1}/{len(jobs)}] {family:9s} {strength:18s} "
                f"{'FAIL' if failed else 'pass'} {','.join(failed)}",
                file=sys.stderr,
            )
    elapsed = time.perf_counter() - started

    groups: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for row in results:
        groups[(str(row["family"]), str(row["strength"]))].append(row)
    print(
        f"\n{'family':10s} {'strength':20s} {'models':>6s} {'gate failed':>11s} "
        f"{'rate':>6s}  95% interval"
    )
    for (family, strength), rows in groups.items():
        if family == "targeted":
            rows = [r for r in rows if r["success"]]
            strength = f"{strength} (successful)"
        k = sum(1 for r in rows if r["failed"])
        lo, hi = wilson(k, len(rows))
        rate = k / len(rows) if rows else float("nan")
        label = "false alarms" if family == "clean" else "detected"
        if family != "clean":
            named = sum(1 for r in rows if r["failed"] and r["named"])
            label += (
                f", {named} naming the attacked {'pair' if family == 'labelflip' else 'canary'}"
            )
        print(
            f"{family:10s} {strength:20s} {len(rows):6d} {k:11d} {rate:6.0%}  "
            f"[{lo:.0%}, {hi:.0%}]  {label}"
        )
    print("\nchecks that failed, per group (a model can fail several):")
    for (family, strength), rows in groups.items():
        tests: dict[str, int] = defaultdict(int)
        for row in rows:
            for name in row["failed"]:  # type: ignore[attr-defined]
                tests[name] += 1
        print(f"  {family:10s} {strength:20s} {dict(sorted(tests.items()))}")
    accuracy = sorted(float(r["accuracy"]) for r in results if r["family"] == "clean")  # type: ignore[arg-type]
    print(
        f"clean retrains' canary accuracy: min {accuracy[0]:.2%}, median "
        f"{accuracy[len(accuracy) // 2]:.2%}, max {accuracy[-1]:.2%}"
    )
    print(f"{len(jobs)} models trained and checked in {elapsed:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
