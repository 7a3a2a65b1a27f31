"""The flips as a tuple of CanaryFlip, one object per flip: what the gate built before the
columnar `FlippedCanaries`, kept as the reference the columns must agree with."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modelgate.analysis.flips import FlipTable
from modelgate.result import CanaryFlip, FlipKind


def list_flips(
    ids: Sequence[str],
    truth: np.ndarray,
    baseline: np.ndarray,
    candidate: np.ndarray,
    baseline_margin: np.ndarray,
    candidate_margin: np.ndarray,
    table: FlipTable,
    classes: Sequence[str],
    tags: Sequence[tuple[str, ...]],
    waiver_notes: dict[int, str],
) -> tuple[CanaryFlip, ...]:
    """Every flipped canary, sorted by id, with the waiver that explains it if any."""
    flips = []
    for i in (int(j) for j in np.flatnonzero(table.any)):
        kind = (
            FlipKind.NEGATIVE
            if table.negative[i]
            else FlipKind.POSITIVE
            if table.positive[i]
            else FlipKind.OTHER
        )
        flips.append(
            CanaryFlip(
                id=ids[i],
                label=classes[truth[i]],
                baseline=classes[baseline[i]],
                candidate=classes[candidate[i]],
                kind=kind,
                baseline_margin=round(float(baseline_margin[i]), 4),
                candidate_margin=round(float(candidate_margin[i]), 4),
                tags=tags[i],
                waiver=waiver_notes.get(int(i)),
            )
        )
    return tuple(sorted(flips, key=lambda f: f.id))
