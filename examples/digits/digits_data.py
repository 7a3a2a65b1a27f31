"""The digits data and its fixed canary / training-pool split, shared by make_suite and train.

The split is the contract that keeps canaries out of training: both scripts call `split()` with
the same seed, so a canary can never be a training example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "digits.npz"
SPLIT_SEED = 0
CANARIES_PER_CLASS = 54  # 30% of the smallest class (174 eights), the same count for every class
NUM_CLASSES = 10


def load(path: Path = DATA) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 8, 8) in 0..16 and labels int64 (N,), without unpickling anything."""
    with np.load(path, allow_pickle=False) as data:
        images = np.asarray(data["images"], dtype=np.uint8)
        labels = np.asarray(data["labels"], dtype=np.int64)
    return images, labels


def to_inputs(images: np.ndarray) -> np.ndarray:
    """uint8 images in 0..16 -> float32 (N, 1, 8, 8) in [0, 1], the models' input format."""
    return (images.astype(np.float32) / 16.0)[:, None, :, :]


def split(labels: np.ndarray, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(canary indices, training-pool indices), each sorted; stratified and balanced per class."""
    rng = np.random.default_rng(seed)
    canary: list[np.ndarray] = []
    for c in range(NUM_CLASSES):
        members = np.flatnonzero(labels == c)
        canary.append(rng.choice(members, size=CANARIES_PER_CLASS, replace=False))
    canary_idx = np.sort(np.concatenate(canary))
    pool_idx = np.setdiff1d(np.arange(len(labels)), canary_idx)  # sorted
    return canary_idx, pool_idx


def canaries() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dataset indices, inputs float32 (N,1,8,8), labels) of the canary split, in suite order."""
    images, labels = load()
    canary_idx, _ = split(labels)
    return canary_idx, to_inputs(images[canary_idx]), labels[canary_idx]


def pool() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dataset indices, inputs float32 (N,1,8,8), labels) of the training pool."""
    images, labels = load()
    _, pool_idx = split(labels)
    return pool_idx, to_inputs(images[pool_idx]), labels[pool_idx]
