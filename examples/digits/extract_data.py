"""Extract the 8x8 digits once from scikit-learn's bundled copy into `data/digits.npz`.

Run once by a maintainer; the result is committed so the example never downloads anything and
never needs scikit-learn at run time. This is the only file in the example that imports sklearn.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "data" / "digits.npz"


def extract(out: Path = DEFAULT_OUT) -> Path:
    """Write `images` uint8 (N,8,8) in 0..16 and `labels` int64 (N,) to `out`."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images)
    if images.min() < 0 or images.max() > 16 or not np.all(images == np.round(images)):
        raise SystemExit("unexpected pixel values in sklearn's digits")
    images = images.astype(np.uint8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, images=images, labels=labels)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    out = extract(args.out)
    with np.load(out, allow_pickle=False) as data:
        images, labels = data["images"], data["labels"]
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    counts = np.bincount(labels, minlength=10).tolist()
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {digest})")
    print(f"images {images.shape} {images.dtype}, labels {labels.shape}, per class {counts}")


if __name__ == "__main__":
    main()
