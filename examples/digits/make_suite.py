"""Build the canary suite `canaries/digits/` from the canary split of the bundled digits data.

The suite is committed; rerun this only to regenerate it (`--force` replaces the folder, and the
new suite gets a fresh version, so every baseline recorded against the old one must be re-blessed).

    python examples/digits/make_suite.py [--out canaries/digits] [--force]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import digits_data  # noqa: E402

from modelgate.suite.freeze import init_suite  # noqa: E402

DEFAULT_OUT = HERE.parent.parent / "canaries" / "digits"
PROTECTED_CLASSES = range(6)  # the first canary of each of the digits 0..5 must never flip
HARD_PER_CLASS = 2  # the canaries least like their class's training examples
SOURCE = (
    "UCI Optical Recognition of Handwritten Digits (scikit-learn bundled copy), "
    "canary split of examples/digits/data/digits.npz, seed 0"
)


def canary_tags(inputs: np.ndarray, labels: np.ndarray) -> list[str]:
    """`hard` for the most atypical canaries, `protected` for the first other one of digits 0..5.

    Atypical = farthest (L2) from the mean training-pool image of its class; this needs no
    model, so the tags do not depend on whichever model happened to be trained first.
    """
    _, pool_inputs, pool_labels = digits_data.pool()
    tags: list[set[str]] = [set() for _ in labels]
    for c in range(digits_data.NUM_CLASSES):
        members = np.flatnonzero(labels == c)
        centre = pool_inputs[pool_labels == c].mean(axis=0)
        distance = ((inputs[members] - centre) ** 2).sum(axis=(1, 2, 3))
        hard = members[np.argsort(-distance, kind="stable")[:HARD_PER_CLASS]]
        for i in hard:
            tags[i].add("hard")
        if c in PROTECTED_CLASSES:  # a protected canary must be one every clean model gets right
            tags[next(i for i in members if i not in hard)].add("protected")
    return [" ".join(sorted(t)) for t in tags]


def make_suite(out: Path = DEFAULT_OUT, force: bool = False) -> None:
    """Write and freeze the suite in `out` (refuses an existing suite unless `force`)."""
    if force and out.exists():
        shutil.rmtree(out)
    _, inputs, labels = digits_data.canaries()
    ids = [f"digits-{i:04d}" for i in range(1, len(labels) + 1)]
    manifest = init_suite(
        out,
        name="digits",
        modality="image",
        inputs=inputs,
        labels=[str(int(y)) for y in labels],
        classes=[str(d) for d in range(digits_data.NUM_CLASSES)],
        ids=ids,
        tags=canary_tags(inputs, labels),
        curated_by="modelgate maintainers",
        source=SOURCE,
        license="CC BY 4.0",
        notes=(
            f"{digits_data.CANARIES_PER_CLASS} canaries per class, drawn with seed "
            f"{digits_data.SPLIT_SEED} (examples/digits/digits_data.py); digits-0001.. follow the "
            "dataset order. Pixels are the 0..16 counts divided by 16. Regenerate with "
            "python examples/digits/make_suite.py --force"
        ),
    )
    print(f"wrote {out}: {len(ids)} canaries, version {manifest.version}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="delete an existing suite first")
    args = parser.parse_args(argv)
    make_suite(args.out, args.force)


if __name__ == "__main__":
    main()
