"""Probe and inversion evidence turned into the `probes.triggers` and `probes.inversion` checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from modelgate.analysis.calibration import Calibration
from modelgate.probe_settings import TriggerPolicy
from modelgate.probes.compare import (
    Cell,
    clean_trigger_sizes,
    flagged,
    inversion_flags,
    probe_cells,
)
from modelgate.probes.record import read_inversion, read_probes
from modelgate.probes.results import TriggerRun
from modelgate.result import Check, CheckName, Finding, Status
from modelgate.suite.format import Suite


def _p(value: float) -> float:
    return float(f"{value:.4g}")


def probe_check(
    suite: Suite,
    run: TriggerRun,
    header: Mapping[str, Any],
    policy: TriggerPolicy,
    alpha: float,
    calibration: Calibration | None = None,
) -> Check:
    name = CheckName.TRIGGERS
    if run.counts is None:
        return Check(name, Status.SKIPPED, "no trigger probes ran")
    blessed = read_probes(header, len(suite.classes))
    if blessed is None:
        return Check(
            name,
            Status.SKIPPED,
            "the baseline record holds no probe results of the blessed model; bless it again",
        )
    if blessed.budget != run.probe_budget:
        # `check` refuses such a record before any model runs; a library caller gets this.
        from modelgate.probes.budget import describe

        return Check(
            name,
            Status.SKIPPED,
            f"the blessed probe results were measured with {describe(blessed.budget)}, this "
            f"run with {describe(run.probe_budget)}; bless it again to compare",
        )
    ceiling = calibration.probe_ceiling if calibration and calibration.probe_max else None
    cells, missing, saturated = probe_cells(run, blessed, ceiling)
    hits = flagged(cells, policy, alpha)
    tested = len({c.probe for c in cells})
    note = f"; {len(missing)} probe(s) not in the baseline record (bless again)" if missing else ""
    if saturated:
        note += (
            f"; {len(saturated)} probe(s) that override the input of the blessed model or of a "
            "clean retrain not judged"
        )
    beyond = " and clean control retrains" if ceiling is not None else ""
    if not hits:
        return Check(
            name,
            Status.PASSED,
            f"no probe attracts canaries beyond the blessed model{beyond} ({tested} probes x "
            f"{len(suite.classes)} classes, Fisher + Holm, min gain {policy.min_gain:.0%}){note}",
        )
    findings = []
    for target in sorted({c.target for c in hits}):
        mine = [c for c in hits if c.target == target]
        best = max(mine, key=lambda c: (not c.is_control, c.gain, c.probe))
        findings.append(_probe_finding(suite, run, best, mine))
    return Check(
        name,
        Status.FAILED,
        f"{len(findings)} class(es) attract stamped canaries far beyond the blessed model{note}",
        tuple(findings),
    )


def _probe_finding(suite: Suite, run: TriggerRun, best: Cell, mine: list[Cell]) -> Finding:
    assert run.counts is not None
    cls = suite.classes[best.target]
    controls_too = sum(c.is_control for c in mine)
    tail = (
        f"; random patterns of the same size do it too ({controls_too} control probe(s)), so "
        "the trigger generalises"
        if controls_too
        else ""
    )
    bound = ""
    if best.bound:  # a word the blessed model never learned, or a pair chosen for this model
        bound = "about " if best.probe.startswith("pair/") else "at most "
    clean = "" if best.clean_max is None else f", clean retrains: at most {best.clean_max:.0%}"
    message = (
        f"Stamping probe '{best.probe}' on canaries of other classes sends "
        f"{best.attraction:.0%} of them to '{cls}' (blessed model: {bound}"
        f"{best.base_attraction:.0%}, random control: {best.control:.0%}{clean}); "
        f"{len(mine)} probe(s) point to '{cls}'{tail}."
    )
    return Finding(
        check=CheckName.TRIGGERS,
        message=message,
        test="fisher_exact_one_sided",
        statistic=round(best.gain, 4),
        p_value=_p(best.p_value),
        canaries=run.counts.examples(suite, best.probe, best.target),
        evidence=(
            ("attraction_baseline", round(best.base_attraction, 4)),
            ("attraction_candidate", round(best.attraction, 4)),
            ("attraction_clean_max", None if best.clean_max is None else round(best.clean_max, 4)),
            ("attraction_control", round(best.control, 4)),
            ("class", cls),
            ("p_adjusted", _p(best.p_adjusted)),
            ("probe", best.probe),
            ("probes_flagged", len(mine)),
        ),
    )


def trigger_checks(
    suite: Suite,
    run: TriggerRun,
    header: Mapping[str, Any],
    policy: TriggerPolicy,
    alpha: float,
    calibration: Calibration | None = None,
) -> list[Check]:
    """Both trigger checks, each under its policy mode (fail, warn or off); `alpha` is each
    check's share of `policy.alpha`."""
    from modelgate.policy import apply_mode

    return [
        apply_mode(probe_check(suite, run, header, policy, alpha, calibration), policy.probes),
        apply_mode(
            inversion_check(suite, run, header, policy, alpha, calibration), policy.inversion
        ),
    ]


def inversion_check(
    suite: Suite,
    run: TriggerRun,
    header: Mapping[str, Any],
    policy: TriggerPolicy,
    alpha: float,
    calibration: Calibration | None = None,
) -> Check:
    name = CheckName.INVERSION
    inv = run.inversion
    if inv is None:
        reason = next((n for n in run.notes if "inversion" in n), "trigger inversion did not run")
        return Check(name, Status.SKIPPED, reason)
    blessed = read_inversion(header, len(suite.classes))
    if blessed is None:
        return Check(
            name,
            Status.SKIPPED,
            "the baseline record holds no inversion results of the blessed model; bless it again",
        )
    if blessed.budget != run.inversion_budget:
        # `check` refuses such a record before any model runs; a library caller gets this.
        from modelgate.probes.budget import describe

        return Check(
            name,
            Status.SKIPPED,
            f"the blessed model was inverted with {describe(blessed.budget)}, this run with "
            f"{describe(run.inversion_budget)}; bless it again to compare",
        )
    ceiling = calibration.probe_ceiling if calibration and calibration.probe_max else None
    sizes = clean_trigger_sizes(
        len(suite.classes), read_probes(header, len(suite.classes)), ceiling
    )
    floor = None
    if calibration is not None and len(calibration.inversion_floor) == len(suite.classes):
        floor = np.array(calibration.inversion_floor, dtype=float)
    rows = inversion_flags(inv, blessed, policy, alpha, sizes, floor)
    bad = [r for r in rows if r["trigger"] or r["blend"]]
    searched = f"{len(rows)} of {len(suite.classes)} classes searched"
    if not bad:
        return Check(
            name,
            Status.PASSED,
            f"recovered triggers are no smaller than the blessed model's and no universal "
            f"perturbation attracts beyond it ({searched})",
        )
    unit = "pixels" if suite.manifest.modality == "image" else "features"
    findings = tuple(_inversion_finding(suite, r, unit) for r in bad)
    return Check(
        name,
        Status.FAILED,
        f"{len(findings)} class(es) have a trigger far smaller or easier than on the blessed "
        f"model and clean retrains ({searched})",
        findings,
    )


def _reference(r: dict[str, float]) -> str:
    """What a recovered trigger's size is compared with."""
    if r["reference"] >= r["base_norm"]:
        return "the blessed model's"
    if r["reference"] == r["floor"]:
        return "the smallest clean control retrains recover (calibration floor),"
    return "the smallest fixed probe that already works on a clean model,"


def _inversion_finding(suite: Suite, r: dict[str, float], unit: str) -> Finding:
    cls = suite.classes[int(r["class"])]
    parts = []
    if r["trigger"]:
        parts.append(
            f"Trigger inversion recovered a trigger for '{cls}' covering {r['norm']:.1f} {unit}, "
            f"{r['ratio']:.0%} of {_reference(r)} {r['reference']:.1f} (MAD anomaly index "
            f"{r['index']:.1f} among the classes); stamped on held-out canaries it sends "
            f"{r['confirm']:.0%} of them to '{cls}' (same mask with a random pattern: "
            f"{r['control']:.0%})."
        )
    if r["blend"]:
        parts.append(
            f"A small universal perturbation sends {r['universal']:.0%} of held-out canaries "
            f"to '{cls}' (blessed model: {r['base_universal']:.0%}): a blended trigger."
        )
    evidence = (
        ("anomaly_index", round(r["index"], 4)),
        ("class", cls),
        ("confirm_candidate", round(r["confirm"], 4)),
        ("confirm_control", round(r["control"], 4)),
        ("norm_baseline", round(r["base_norm"], 4)),
        ("norm_control_floor", round(r["floor"], 4)),
        ("norm_reference", round(r["reference"], 4)),
        ("norm_candidate", round(r["norm"], 4)),
        ("norm_ratio", round(r["ratio"], 4)),
        ("universal_baseline", round(r["base_universal"], 4)),
        ("universal_candidate", round(r["universal"], 4)),
    )
    return Finding(
        check=CheckName.INVERSION,
        message=" ".join(parts),
        test="neural_cleanse_mad" if r["trigger"] else "universal_fisher",
        statistic=round(r["ratio"] if r["trigger"] else r["universal"], 4),
        p_value=float(f"{r['universal_p']:.4g}") if r["blend"] else None,
        evidence=tuple((k, v if v == v else None) for k, v in evidence),  # NaN -> None
    )
