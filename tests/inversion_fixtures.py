"""Hand-made inversion results for the tests that judge them (no model, no search)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modelgate.probes.results import Inversion


def inversion_of(
    norms: Sequence[float] | np.ndarray, confirm: int = 280, held: int = 300
) -> Inversion:
    """Every class searched, with these trigger sizes; each recovered trigger moves `confirm`
    of `held` held-out canaries (a random pattern in its mask: 10), no universal search."""
    norms = np.asarray(norms, dtype=float)
    k = len(norms)
    return Inversion(
        classes=tuple(range(k)),
        norms=norms,
        confirm_hits=np.full(k, confirm),
        control_hits=np.full(k, 10),
        held_out=np.full(k, held),
        universal_hits=np.full(k, -1),
        masks=np.zeros((k, 1)),
        patterns=np.zeros((k, 1)),
        seconds=0.0,
    )
