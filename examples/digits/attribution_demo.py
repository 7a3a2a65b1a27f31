"""The attribution walk-through on the bundled example: check fails -> attribute -> quarantine ->
retrain -> check passes.

    python examples/digits/attribution_demo.py manifest    # the poisoned model's training rows
    python examples/digits/attribution_demo.py retrain --drop REPORT_DIR/attribution.json \\
        --out examples/digits/models/retrained.safetensors

`manifest` writes `data/train-poisoned`: the exact rows `models/poisoned.safetensors` was trained
on (train.py's MODELS["poisoned"]), frozen in the suite format, each with the vendor that
supplied it. Eight vendors supply random rows; vendor-f also supplied the relabelled 7s.
`retrain` trains the same recipe on the manifest minus every row of the sources the attribution
flagged (or minus the rows of a quarantine.csv, with --drop-rows).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import train as digits  # noqa: E402

MANIFEST = HERE / "data" / "train-poisoned"
VENDORS = tuple(f"vendor-{c}" for c in "abcdefgh")
ATTACKER = "vendor-f"


def write_manifest(folder: Path = MANIFEST) -> Path:
    from modelgate.attribution.manifest import write_training_data

    recipe = digits.MODELS["poisoned"]
    x, y = digits.training_set(1, 1.0, flip=recipe["flip"])  # type: ignore[arg-type]
    _, clean = digits.training_set(1, 1.0)
    rng = np.random.default_rng(2026)
    sources = np.asarray(VENDORS)[rng.choice(len(VENDORS), size=len(y))]
    sources[y != clean] = ATTACKER
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    return write_training_data(
        folder,
        name="digits-train",
        modality="image",
        inputs=x,
        labels=[str(c) for c in y.tolist()],
        sources=sources.tolist(),
        classes=[str(c) for c in range(10)],
        added=["2026-11-30"] * len(y),
        curated_by="examples/digits/attribution_demo.py",
    )


def retrain(drop: Path | None, drop_rows: Path | None, out: Path) -> Path:
    from modelgate.attribution.manifest import load_training_data

    data = load_training_data(MANIFEST, tuple(str(c) for c in range(10)))
    keep = np.ones(len(data), dtype=bool)
    if drop is not None:
        flagged = set(json.loads(drop.read_text())["flagged_sources"])
        keep &= np.asarray([s not in flagged for s in data.sources])
        print(f"dropping every row of {sorted(flagged)}: {int((~keep).sum())} rows")
    if drop_rows is not None:
        ids = {row["id"].lstrip("'") for row in csv.DictReader(drop_rows.open())}
        keep &= np.asarray([i not in ids for i in data.rows.ids])
        print(f"dropping the quarantined rows: {len(ids)} rows")
    x = np.asarray(data.rows.inputs)[keep]
    y = data.rows.labels[keep]
    model = digits.fit(x, y, seed=1)
    return digits.save(model, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("manifest", help="write data/train-poisoned")
    again = commands.add_parser("retrain", help="retrain without the quarantined data")
    again.add_argument("--drop", type=Path, help="attribution.json: drop its flagged sources")
    again.add_argument("--drop-rows", type=Path, help="quarantine.csv: drop its rows")
    again.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "manifest":
        print(write_manifest())
    else:
        print(retrain(args.drop, args.drop_rows, args.out))


if __name__ == "__main__":
    main()
