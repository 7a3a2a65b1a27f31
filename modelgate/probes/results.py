"""Plain data out of the probe stage: what one model did under the probes and the inversion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelgate.probes.measure import ProbeCounts
from modelgate.probes.probe import Probe


@dataclass(frozen=True)
class Inversion:
    """What the search found, one entry per class (NaN / -1 for classes not searched)."""

    classes: tuple[int, ...]  # searched, in priority order
    norms: np.ndarray  # (K,) L1 size of the smallest mask reaching SUCCESS (inf if none)
    confirm_hits: np.ndarray  # (K,) held-out canaries the recovered trigger moved to the class
    control_hits: np.ndarray  # (K,) the same with a random pattern in the mask
    held_out: np.ndarray  # (K,) held-out canaries of other classes
    universal_hits: np.ndarray  # (K,) held-out canaries a small universal perturbation moved
    masks: np.ndarray  # (K, *mask_shape)
    patterns: np.ndarray  # (K, *input_shape)
    seconds: float  # for the log only: nothing decided depends on it
    # Every chosen class was searched to its counts (a search cut short by the wall-clock
    # limit raises instead of returning).
    complete: bool = True


@dataclass(frozen=True)
class TriggerRun:
    """The candidate's probe counts and inversion, with the controls each probe is judged by."""

    counts: ProbeCounts | None
    controls: dict[str, str]  # probe name -> its control group ("" for none)
    inversion: Inversion | None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    probes: tuple[Probe, ...] = field(default=())
    # The counts the probes and the inversion ran with, as the baseline record keeps them.
    probe_budget: dict[str, Any] | None = None
    inversion_budget: dict[str, Any] | None = None
