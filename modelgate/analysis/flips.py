"""Canary-by-canary comparison of baseline and candidate: flips, rates, per class and per tag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modelgate.result import GroupMetrics, Metrics


@dataclass(frozen=True)
class FlipTable:
    """Boolean masks over the suite, in suite order."""

    negative: np.ndarray  # right -> wrong
    positive: np.ndarray  # wrong -> right
    other: np.ndarray  # wrong -> another wrong
    baseline_correct: np.ndarray
    candidate_correct: np.ndarray

    @property
    def any(self) -> np.ndarray:
        return self.negative | self.positive | self.other


def flip_table(truth: np.ndarray, baseline: np.ndarray, candidate: np.ndarray) -> FlipTable:
    base_ok = baseline == truth
    cand_ok = candidate == truth
    changed = baseline != candidate
    return FlipTable(
        negative=base_ok & ~cand_ok,
        positive=~base_ok & cand_ok,
        other=~base_ok & ~cand_ok & changed,
        baseline_correct=base_ok,
        candidate_correct=cand_ok,
    )


def _group(name: str, mask: np.ndarray, table: FlipTable, explained: np.ndarray) -> GroupMetrics:
    return GroupMetrics(
        name=name,
        n=int(mask.sum()),
        baseline_correct=int((table.baseline_correct & mask).sum()),
        candidate_correct=int((table.candidate_correct & mask).sum()),
        negative_flips=int((table.negative & mask & ~explained).sum()),
        positive_flips=int((table.positive & mask).sum()),
        other_flips=int((table.other & mask & ~explained).sum()),
    )


def flip_metrics(
    truth: np.ndarray,
    table: FlipTable,
    classes: Sequence[str],
    tags: Sequence[tuple[str, ...]],
    explained: np.ndarray,
) -> Metrics:
    """Counts and rates; explained (waived) flips are left out of the negative/other counts."""
    n = len(truth)
    per_class = tuple(_group(name, truth == c, table, explained) for c, name in enumerate(classes))
    tag_names = sorted({t for canary_tags in tags for t in canary_tags})
    per_tag = tuple(
        _group(tag, np.array([tag in t for t in tags], dtype=bool), table, explained)
        for tag in tag_names
    )
    negative = int((table.negative & ~explained).sum())
    other = int((table.other & ~explained).sum())
    return Metrics(
        n_canaries=n,
        baseline_accuracy=float(table.baseline_correct.mean()),
        candidate_accuracy=float(table.candidate_correct.mean()),
        negative_flips=negative,
        positive_flips=int(table.positive.sum()),
        other_flips=other,
        negative_flip_rate=negative / n,
        positive_flip_rate=float(table.positive.sum()) / n,
        unexplained_flips=negative + other,
        per_class=per_class,
        per_tag=per_tag,
    )
