"""One probe: a named, deterministic batch transform, and the names that say what kind it is.

Kept apart from `library.py` (which builds the probe set) so that each modality's module can
make probes without importing the library that imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelgate.suite.format import Suite

Batch = Any  # np.ndarray of suite inputs, or a list of texts
_RANGE_SAMPLE = 20_000  # canaries read for the value range


@dataclass(frozen=True)
class Probe:
    """One candidate trigger. `control` names the group of random probes of the same size."""

    name: str
    family: str
    apply: Callable[[Batch], Batch]
    control: str = ""
    is_control: bool = False
    # Classes the probe's own content is typical of in the clean canaries: attraction there is
    # natural behaviour, never a trigger.
    explains: tuple[int, ...] = ()


# Probes chosen per model (the swept vocabulary, the word pairs): a calibration records, per
# family and class, the highest attraction any probe of the family reached on each control,
# and a candidate's probe of that family is judged against it (the null of the maximum).
ADAPTIVE_FAMILIES = ("word", "pair")


# Values beyond the suite's range: a tabular pair set there puts the input where every retrain
# extrapolates its own way, so only the clean controls' ceiling can judge it.
BEYOND_RANGE = ("below", "above")


def needs_clean_ceiling(name: str) -> bool:
    """Whether a probe is judged only against clean control retrains (a calibration): a pair
    of features both set beyond the suite's range."""
    parts = name.split("+")
    return len(parts) == 2 and all(
        p.startswith("feature/") and p.rpartition("/")[2] in BEYOND_RANGE for p in parts
    )


def family_of(name: str) -> str | None:
    """The adaptive family a probe belongs to, or None for a fixed probe."""
    family = name.partition("/")[0]
    return family if family in ADAPTIVE_FAMILIES else None


def value_range(suite: Suite) -> tuple[float, float]:
    """(min, max) of the suite's inputs: patterns use the canaries' own value range."""
    sample = np.asarray(suite.inputs[:_RANGE_SAMPLE])  # a view: no float64 copy of it
    lo, hi = float(sample.min()), float(sample.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)
