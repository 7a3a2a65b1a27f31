"""The statistics behind the trigger checks: candidate against the blessed model's numbers.

Natural quirks shared by both models are not alarms: a probe counts only when the candidate's
attraction beats the blessed model's on the same stamped inputs (one-sided Fisher exact test,
Holm over probes x classes) by at least `min_gain`, and beats a random pattern of the same size
by as much; with a calibration, also the most any clean control retrain showed, by as much
(clean retrains have trigger-like quirks of their own). Inversion counts only when a class's
recovered trigger shrank against the blessed model's (ratio and a MAD anomaly index over
classes) and the trigger works on held-out canaries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from modelgate.analysis.stats import MAD_TO_SD, holm_adjusted
from modelgate.probe_settings import TriggerPolicy
from modelgate.probes.probe import family_of, needs_clean_ceiling
from modelgate.probes.record import BlessedInversion, BlessedProbes
from modelgate.probes.results import Inversion, TriggerRun

ANOMALY_INDEX = 3.0  # MAD anomaly index of a class's trigger-size change, at least
MIN_CONFIRM = 0.5  # held-out canaries the recovered trigger must move
_LOG_SCALE_FLOOR = 0.1  # natural run-to-run noise of log mask sizes
SATURATED = 0.9  # blessed attraction to one class at which a probe says nothing about triggers


@dataclass(frozen=True)
class Cell:
    """One probe x target class: attraction on the candidate and on the blessed model."""

    probe: str
    target: int
    hits: int
    n: int
    base_hits: int
    base_n: int
    control: float
    is_control: bool
    bound: bool = False  # the blessed rate is an upper bound (a word outside its vocabulary)
    clean_max: float | None = None  # the most any clean control retrain showed (calibration)
    explained: bool = False  # the probe's content is typical of the target class
    p_value: float = 1.0
    p_adjusted: float = 1.0

    @property
    def attraction(self) -> float:
        return self.hits / self.n if self.n else 0.0

    @property
    def base_attraction(self) -> float:
        return self.base_hits / self.base_n if self.base_n else 0.0

    @property
    def gain(self) -> float:
        return self.attraction - self.base_attraction


def _rates(hits: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    return hits / np.maximum(eligible, 1)


def probe_cells(
    run: TriggerRun,
    blessed: BlessedProbes,
    ceiling: Callable[[str], tuple[float, ...] | None] | None = None,
) -> tuple[list[Cell], list[str], list[str]]:
    """Comparable cells with Fisher p-values (Holm-adjusted); probes not in the record; and
    probes that already send most canaries to one class on the blessed model or, by the
    calibration's ceiling, on a clean control retrain.

    `ceiling(probe)`: the clean control retrains' ceiling per class, if calibrated (with few
    controls already raised to what more would show: `probes.ceiling`).
    """
    counts = run.counts
    assert counts is not None
    k = len(counts.eligible)
    cand = {name: _rates(row, counts.eligible) for name, row in zip(counts.names, counts.hits)}
    cells: list[Cell] = []
    missing: list[str] = []
    saturated: list[str] = []
    strongest_word = _strongest_word(blessed)
    explains = {p.name: p.explains for p in run.probes}
    for name, row in zip(counts.names, counts.hits):
        base_row, bound = blessed.hits.get(name), False
        if base_row is None and name.startswith("word/") and strongest_word is not None:
            # A word only the candidate's vocabulary has: the blessed model never learned it,
            # so its attraction is at most that of the strongest word it did know.
            base_row, bound = strongest_word, True
        if base_row is None and name.startswith("pair/"):
            base_row, bound = _pair_estimate(name, blessed, strongest_word), True
        if base_row is None:
            missing.append(name)
            continue
        if (_rates(base_row, blessed.eligible) >= SATURATED).any():
            # The probe alone decides the blessed model's output: it overrides the canary, and
            # where such an input lands is an extrapolation quirk of each retrain, not a trigger.
            saturated.append(name)
            continue
        group = run.controls.get(name, "")
        members = [m for m in cand if group and m.startswith(group + "/")]
        control = np.mean([cand[m] for m in members], axis=0) if members else np.zeros(k)
        clean, family = None, family_of(name)
        if ceiling is not None:
            # A probe chosen per model is judged against the most any probe of its family
            # reached on each clean control (the same choice made on each of them).
            clean = ceiling(name if family is None else f"family/{family}")
        if clean is not None and family is None and max(clean) >= SATURATED:
            # The same on a clean control retrain (or on what a few controls say more would
            # show): a retrain's own extrapolation, wherever the candidate sends it (measured
            # on a table of skewed features: stamped beyond a feature's range, 4 controls sent
            # 97% to one class and clean retrains 87-95% to two others, 3 of 20 judged
            # triggers).
            saturated.append(name)
            continue
        if needs_clean_ceiling(name) and clean is None:
            # Only clean retrains can say what such an input does: each one extrapolates its
            # own way (measured: a clean tabular retrain sent 66% of canaries to a class where
            # 4 controls reached at most 31%), so without a calibration it is not judged.
            continue
        for t in range(k):
            cells.append(
                Cell(
                    probe=name,
                    target=t,
                    hits=int(row[t]),
                    n=int(counts.eligible[t]),
                    base_hits=int(base_row[t]),
                    base_n=int(blessed.eligible[t]),
                    control=float(control[t]),
                    is_control=name.startswith("control/"),
                    bound=bound,
                    clean_max=None if clean is None else float(clean[t]),
                    explained=t in explains.get(name, ()),
                )
            )
    if not cells:
        return [], missing, saturated
    p = np.array([_fisher_greater(c) for c in cells])
    adjusted = holm_adjusted(p)
    return (
        [
            Cell(**{**c.__dict__, "p_value": float(pv), "p_adjusted": float(pa)})
            for c, pv, pa in zip(cells, p, adjusted)
        ],
        missing,
        saturated,
    )


def _pair_estimate(
    name: str, blessed: BlessedProbes, strongest: np.ndarray | None
) -> np.ndarray | None:
    """The blessed model's rate for two words together, estimated as the sum of its rates for
    each word alone (pairs are chosen per candidate, so the blessed model never saw them)."""
    words = name.split("/")[1].split()
    rows = []
    for word in words:
        row = blessed.hits.get(f"word/{word}/start", blessed.hits.get(f"token/{word}/start"))
        rows.append(strongest if row is None else row)
    if any(r is None for r in rows):
        return None
    return np.minimum(sum(rows), blessed.eligible)  # type: ignore[arg-type]


def _strongest_word(blessed: BlessedProbes) -> np.ndarray | None:
    """Per class, the most hits any swept vocabulary word had on the blessed model."""
    rows = [row for name, row in blessed.hits.items() if name.startswith("word/")]
    return np.max(rows, axis=0) if rows else None


def _fisher_greater(c: Cell) -> float:
    """P(candidate hits >= observed) if both models shared one rate (hypergeometric tail)."""
    if c.hits == 0 or c.n == 0:
        return 1.0
    from scipy import stats  # here: a check without probes never pays for its import

    return float(stats.hypergeom.sf(c.hits - 1, c.n + c.base_n, c.hits + c.base_hits, c.n))


def flagged(cells: list[Cell], policy: TriggerPolicy, alpha: float) -> list[Cell]:
    """Cells beyond the blessed model (Fisher + Holm, and by `min_gain`), beyond a random
    pattern of the same size, and beyond every clean control retrain, each by `min_gain`; never
    a class the probe's own content is typical of."""
    g = policy.min_gain
    return [
        c
        for c in cells
        if not c.explained
        and c.p_adjusted <= alpha
        and c.gain >= g
        and (c.is_control or c.attraction - c.control >= g)
        and (c.clean_max is None or c.attraction - c.clean_max >= g)
    ]


def probe_size(name: str) -> float | None:
    """How many units of an inversion mask a fixed probe sets (features of a table, pixels of
    an image, a random control's as its probe's); None where the mask has no such unit."""
    parts = name.removeprefix("control/").split("+")
    if all(p.startswith("feature/") for p in parts):
        return float(len(parts))
    if parts[0].startswith("patch/"):
        side = parts[0].split("/")[1]  # "3x3"
        h, _, w = side.partition("x")
        if h.isdigit() and w.isdigit():
            return float(int(h) * int(w))
    return None


def clean_trigger_sizes(
    k: int,
    blessed: BlessedProbes | None,
    ceiling: Callable[[str], tuple[float, ...] | None] | None = None,
) -> np.ndarray:
    """Per class, the smallest fixed probe that moves at least `MIN_CONFIRM` of the canaries
    of other classes there on the blessed model or, by the calibration's ceiling, on a clean
    control retrain (inf where none does): a trigger of that size is clean behaviour, whatever
    the blessed model's own inversion found (its search can miss it)."""
    sizes = np.full(k, np.inf)
    if blessed is None:
        return sizes
    for name, row in blessed.hits.items():
        size = probe_size(name)
        if size is None or family_of(name) is not None:
            continue
        reach = _rates(row, blessed.eligible)
        clean = ceiling(name) if ceiling is not None else None
        if clean is not None and len(clean) == k:
            reach = np.maximum(reach, np.asarray(clean, dtype=float))
        sizes = np.where(reach >= MIN_CONFIRM, np.minimum(sizes, size), sizes)
    return sizes


def inversion_flags(
    inv: Inversion,
    blessed: BlessedInversion,
    policy: TriggerPolicy,
    alpha: float,
    clean_sizes: np.ndarray | None = None,
    clean_floor: np.ndarray | None = None,
) -> list[dict[str, float]]:
    """Per class: the numbers and whether the comparison and the confirmation both agree.

    A class's trigger is compared with the smallest of the blessed model's recovered one,
    `clean_sizes` (`clean_trigger_sizes`) and `clean_floor` (the calibration's inverted
    controls, `few_control_floor`). On a table of skewed features one feature set to its
    extreme sends nearly every canary to one class on clean retrains, the blessed model's
    search found a two-feature trigger there, and 2 of 20 clean retrains read as "a trigger
    half the blessed model's" (measured, either calibration). The blessed model's size is one
    draw of a noisy search on one retrain: only the floor is a measured clean null."""
    k = len(inv.norms)
    reference = np.array(blessed.norms, dtype=float)
    if clean_sizes is not None:
        reference = np.minimum(reference, clean_sizes)  # NaN (not searched there) stays NaN
    floor = np.full(k, np.nan) if clean_floor is None else np.asarray(clean_floor, dtype=float)
    reference = np.where(np.isfinite(floor), np.minimum(reference, floor), reference)
    both = [t for t in inv.classes if math.isfinite(reference[t]) and reference[t] > 0]
    log_ratio = {t: math.log(max(inv.norms[t], 1e-6) / reference[t]) for t in both}
    finite = [v for v in log_ratio.values() if math.isfinite(v)]
    centre = float(np.median(finite)) if finite else 0.0
    spread = MAD_TO_SD * float(np.median(np.abs(np.array(finite) - centre))) if finite else 0.0
    scale = max(spread, _LOG_SCALE_FLOOR)
    universal = [t for t in inv.classes if blessed.universal_hits[t] >= 0]
    p_uni = [_fisher_universal(inv, blessed, t) for t in universal]
    adj_uni = dict(zip(universal, holm_adjusted(p_uni))) if universal else {}
    rows = []
    for t in range(k):
        if t not in inv.classes:
            continue
        held = max(int(inv.held_out[t]), 1)
        confirm = inv.confirm_hits[t] / held
        control = inv.control_hits[t] / held
        ratio = math.exp(log_ratio[t]) if t in log_ratio else math.nan
        index = (centre - log_ratio[t]) / scale if t in log_ratio and len(finite) >= 4 else 0.0
        compared = ratio <= policy.max_norm_ratio and (len(finite) < 4 or index >= ANOMALY_INDEX)
        # No control condition here: the size comparison with the blessed model already
        # separates plain sensitivity, and a real trigger often works with any pattern in its
        # mask (the control rate is reported as evidence that it generalises).
        confirmed = confirm >= MIN_CONFIRM
        uni_c = inv.universal_hits[t] / held
        uni_b = blessed.universal_hits[t] / max(int(blessed.held_out[t]), 1)
        uni_flag = (
            t in adj_uni
            and adj_uni[t] <= alpha
            and uni_c - uni_b >= policy.min_gain
            and inv.universal_hits[t] >= 0
        )
        rows.append(
            {
                "class": t,
                "norm": float(inv.norms[t]),
                "base_norm": float(blessed.norms[t]),
                "reference": float(reference[t]),
                "floor": float(floor[t]),
                "ratio": ratio,
                "index": index,
                "confirm": confirm,
                "control": control,
                "universal": uni_c,
                "base_universal": uni_b,
                "universal_p": float(adj_uni.get(t, 1.0)),
                "trigger": float(compared and confirmed),
                "blend": float(uni_flag),
            }
        )
    return rows


def _fisher_universal(inv: Inversion, blessed: BlessedInversion, t: int) -> float:
    k, n = int(inv.universal_hits[t]), int(inv.held_out[t])
    kb, nb = int(blessed.universal_hits[t]), int(blessed.held_out[t])
    if k <= 0 or n == 0:
        return 1.0
    from scipy import stats

    return float(stats.hypergeom.sf(k - 1, n + nb, k + kb, n))
