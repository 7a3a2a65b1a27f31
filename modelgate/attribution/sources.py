"""Per-source statistic: does a source carry more of the influence mass than its rows predict?

The null keeps each row's trained label and permutes sources among rows of the same label (a
label-stratified permutation test), so a vendor that supplies only 1s is not blamed merely
because a behaviour moves canaries to '1'; under clean data, where who supplied a row says
nothing about its influence beyond its label, the test is exact at any alpha. One-sided, seeded,
sized by the permutation count alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_CHUNK_CELLS = 4_000_000  # permutations x rows held in memory at once
_SEED = 20_161


@dataclass(frozen=True)
class SourceTest:
    source: str
    rows: int
    row_share: float
    mass_share: float
    p_value: float


def source_tests(
    shares: np.ndarray, sources: Sequence[str], labels: np.ndarray, permutations: int
) -> list[SourceTest]:
    """One test per source, most influence mass first (then by name)."""
    names = sorted(set(sources))
    code_of = {s: i for i, s in enumerate(names)}
    codes = np.asarray([code_of[s] for s in sources], dtype=np.int64)
    k = len(names)
    total = float(shares.sum())
    weights = shares / total if total > 0 else np.zeros_like(shares)
    observed = np.bincount(codes, weights=weights, minlength=k)
    beaten = np.zeros(k, dtype=np.int64)
    rng = np.random.default_rng(_SEED)
    strata = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    chunk = max(1, min(permutations, _CHUNK_CELLS // max(1, len(shares))))
    done = 0
    while done < permutations:
        c = min(chunk, permutations - done)
        mass = np.zeros((c, k))
        for rows in strata:
            order = np.argsort(rng.random((c, len(rows))), axis=1)
            moved = weights[rows][order]  # row j of the stratum gets another row's weight
            flat = (np.arange(c)[:, None] * k + codes[rows][None, :]).ravel()
            mass += np.bincount(flat, weights=moved.ravel(), minlength=c * k).reshape(c, k)
        beaten += (mass >= observed[None, :] - 1e-12).sum(axis=0)
        done += c
    counts = np.bincount(codes, minlength=k)
    tests = [
        SourceTest(
            source=name,
            rows=int(counts[i]),
            row_share=float(counts[i] / len(codes)),
            mass_share=float(observed[i]),
            p_value=float((1 + beaten[i]) / (permutations + 1)),
        )
        for i, name in enumerate(names)
    ]
    return sorted(tests, key=lambda t: (-t.mass_share, t.source))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
