"""The blessed model's probe and inversion numbers, kept in the baseline header.

CI never reruns the old model: at bless time the candidate's own counts are written here, and
later candidates are compared with them. Probe counts are one line per probe (a string of per-
class counts), so a re-bless diff shows which probes changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelgate.errors import BaselineError
from modelgate.probes.measure import ProbeCounts
from modelgate.probes.results import Inversion

# 2: the counts the probes and the search ran with (`budget`); format 1 records were made by a
# time-boxed search and carry none, so they are refused like any other budget.
RECORD_FORMAT = 2


@dataclass(frozen=True)
class BlessedProbes:
    eligible: np.ndarray  # (K,)
    hits: dict[str, np.ndarray]  # probe name -> (K,)
    budget: dict[str, Any] | None = None  # None: a record from before count budgets


@dataclass(frozen=True)
class BlessedInversion:
    norms: np.ndarray  # (K,) NaN where the class was not searched
    universal_hits: np.ndarray  # (K,) -1 where not searched
    held_out: np.ndarray  # (K,)
    budget: dict[str, Any] | None = None  # None: a record from before count budgets


def probes_to_header(counts: ProbeCounts, budget: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "budget": budget,
        "eligible": [int(v) for v in counts.eligible],
        "hits": {
            name: " ".join(str(int(v)) for v in row)
            for name, row in sorted(zip(counts.names, counts.hits))
        },
    }


def inversion_to_header(inv: Inversion, budget: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "budget": budget,
        "norms": [_norm_text(v) for v in inv.norms],
        "universal_hits": [int(v) for v in inv.universal_hits],
        "held_out": [int(v) for v in inv.held_out],
    }


def _norm_text(value: float) -> float | str | None:
    """A class not searched is null; one where no trigger reached success is "inf"."""
    if math.isnan(value):
        return None
    return "inf" if math.isinf(value) else round(float(value), 4)


def _bad(key: str, message: str) -> BaselineError:
    return BaselineError(message, key=f"header.{key}", hint="bless the production model again")


def read_probes(header: Mapping[str, Any], n_classes: int) -> BlessedProbes | None:
    """The blessed probe counts, or None when the record has none (blessed before probes)."""
    data = header.get("probes")
    if data is None:
        return None
    try:
        eligible = np.asarray(data["eligible"], dtype=np.int64)
        hits = {
            str(name): np.asarray([int(v) for v in str(row).split()], dtype=np.int64)
            for name, row in data["hits"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise _bad("probes", "malformed probe record") from None
    if eligible.shape != (n_classes,) or any(h.shape != (n_classes,) for h in hits.values()):
        raise _bad("probes", f"probe record does not have {n_classes} classes")
    if (eligible < 0).any() or any(((h < 0) | (h > eligible)).any() for h in hits.values()):
        raise _bad("probes", "probe counts must lie between 0 and the eligible canaries")
    return BlessedProbes(eligible=eligible, hits=hits, budget=_budget(data, "probes"))


def _budget(data: Any, key: str) -> dict[str, Any] | None:
    budget = data.get("budget") if data.get("format") == RECORD_FORMAT else None
    if budget is not None and not isinstance(budget, dict):
        raise _bad(f"{key}.budget", "must be a mapping of counts")
    return budget


def read_inversion(header: Mapping[str, Any], n_classes: int) -> BlessedInversion | None:
    """The blessed inversion numbers, or None when the blessed model had no inversion."""
    data = header.get("inversion")
    if data is None:
        return None
    try:
        norms = np.asarray([np.nan if v is None else float(v) for v in data["norms"]], dtype=float)
        universal = np.asarray(data["universal_hits"], dtype=np.int64)
        held = np.asarray(data["held_out"], dtype=np.int64)
        budget = _budget(data, "inversion")
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise _bad("inversion", "malformed inversion record") from None
    if not norms.shape == universal.shape == held.shape == (n_classes,):
        raise _bad("inversion", f"inversion record does not have {n_classes} classes")
    # -1: a class not searched; a norm is a size (NaN: not searched, inf: no trigger found)
    if (held < 0).any() or ((universal < -1) | (universal > held)).any() or (norms < 0).any():
        raise _bad("inversion", "inversion counts must lie between 0 and the held-out canaries")
    if (np.isnan(norms) & (universal >= 0)).any():  # a searched class always has a size
        raise _bad("inversion", "a class has universal hits but no trigger size (norm null)")
    return BlessedInversion(norms=norms, universal_hits=universal, held_out=held, budget=budget)
