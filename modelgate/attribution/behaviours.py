"""From a failing finding to the behaviour to attribute: which canaries (flipped, or stamped with
the finding's trigger) now go to which class. Plain numpy over the suite; no torch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelgate.attribution.result import Behaviour
from modelgate.result import CanaryFlip, Finding, GateResult, Status
from modelgate.suite.format import Suite

FLIP_CHECKS = ("accuracy", "flips.", "stats.")  # checks whose findings are about flipped canaries
TRIGGER_CHECKS = ("probes.triggers", "probes.inversion")


def failing_findings(result: GateResult, only: str | None = None) -> list[Finding]:
    """Failing findings in check order; `only` keeps one check (by name)."""
    return [
        f
        for c in result.checks
        if c.status is Status.FAILED and (only is None or c.name == only)
        for f in c.findings
    ]


def behaviours_for(
    result: GateResult,
    suite: Suite,
    triggers: Any,
    max_canaries: int,
    only: str | None = None,
    *,
    all_flips: bool = False,
) -> tuple[list[Behaviour], list[str]]:
    """The behaviours to attribute: one for the canaries every failing flip check names
    (together: they describe one shift, and one test per check would split the evidence), one
    per trigger finding; notes for failing findings that name no behaviour."""
    notes: list[str] = []
    flip_findings: list[Finding] = []
    out: list[Behaviour] = []
    for finding in failing_findings(result, only):
        if finding.check.startswith(FLIP_CHECKS):
            flip_findings.append(finding)
            continue
        behaviour = None
        if finding.check in TRIGGER_CHECKS:
            behaviour = _trigger_behaviour(finding, suite, triggers, max_canaries)
        if behaviour is None:
            notes.append(f"{finding.check}: names no canary behaviour to attribute; skipped")
        else:
            out.append(behaviour)
    if all_flips and not flip_findings:  # every unexplained flip: churn, when nothing failed
        flip_findings = [Finding(check="flips", message="every unexplained flip")]
    if flip_findings:  # after the triggers: a backdoor's side effects are flips too
        flips = _flip_behaviour(flip_findings, result.flips, suite, max_canaries)
        if flips is None:
            notes.append("the failing flip checks name no flipped canary; skipped")
        else:
            out.append(flips)
    return out, notes


def _positions(suite: Suite, ids: Sequence[str]) -> np.ndarray:
    where = {cid: i for i, cid in enumerate(suite.ids)}
    return np.asarray([where[c] for c in ids if c in where], dtype=np.int64)


def _flip_behaviour(
    findings: list[Finding], flips: Sequence[CanaryFlip], suite: Suite, max_canaries: int
) -> Behaviour | None:
    """The canaries the findings name, each moving to its new class (a canary that did not flip
    to the `to` class its finding names); with none named, every unexplained right->wrong
    flip. At most `max_canaries`, by canary id."""
    classes = suite.classes
    by_id = {f.id: f for f in flips}
    target_of: dict[str, int] = {}
    for finding in findings:
        to = dict(finding.evidence).get("to")
        for cid in finding.canaries:
            flip = by_id.get(cid)
            if flip is not None and flip.candidate in classes:
                target_of.setdefault(cid, classes.index(flip.candidate))
            elif isinstance(to, str) and to in classes:
                target_of.setdefault(cid, classes.index(to))
    if not target_of:
        for f in flips:
            if f.waiver is None and f.kind.value != "positive" and f.candidate in classes:
                target_of[f.id] = classes.index(f.candidate)
    chosen = sorted(target_of.items())[:max_canaries]
    if not chosen:
        return None
    ids = tuple(c for c, _ in chosen)
    index = _positions(suite, ids)
    targets = np.asarray([t for _, t in chosen], dtype=np.int64)
    cells = Counter(zip(suite.labels[index].tolist(), targets.tolist()))
    top = sorted(cells.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{n} of '{classes[a]}' now '{classes[b]}'" for (a, b), n in top[:3])
    more = f", {len(top) - 3} more pairs" if len(top) > 3 else ""
    checks = ", ".join(sorted({f.check for f in findings}))
    summary = f"the {len(ids)} flipped canaries ({shown}{more})"
    return Behaviour(checks, summary, ids, _take(suite.inputs, index), targets)


def _trigger_behaviour(
    finding: Finding, suite: Suite, triggers: Any, max_canaries: int
) -> Behaviour | None:
    """Canaries of other classes, stamped with the finding's probe or recovered trigger,
    moving to the trigger's class."""
    if triggers is None or (isinstance(suite.inputs, list) and finding.check == "probes.inversion"):
        return None
    evidence = dict(finding.evidence)
    name = evidence.get("class")
    if not isinstance(name, str) or name not in suite.classes:
        return None
    t = suite.classes.index(name)
    if finding.canaries:  # the canaries the probe moved
        index = _positions(suite, sorted(finding.canaries))
    else:
        counts = getattr(triggers, "counts", None)
        pool = counts.index if counts is not None else np.arange(len(suite))
        index = np.asarray(pool, dtype=np.int64)
    index = index[suite.labels[index] != t]
    index = np.sort(index[np.argsort([suite.ids[i] for i in index], kind="stable")][:max_canaries])
    if not len(index):
        return None
    clean = _take(suite.inputs, index)
    stamped = _stamp(finding, evidence, triggers, clean, t)
    if stamped is None:
        return None
    ids = tuple(suite.ids[i] for i in index)
    what = f"probe '{evidence.get('probe')}'" if finding.check == "probes.triggers" else (
        "the recovered trigger"
    )  # fmt: skip
    summary = f"{len(ids)} canaries of other classes stamped with {what} moving to '{name}'"
    targets = np.full(len(ids), t, dtype=np.int64)
    return Behaviour(finding.check, summary, ids, stamped, targets, reference=clean)


def _take(inputs: Any, index: np.ndarray) -> Any:
    if isinstance(inputs, list):
        return [inputs[i] for i in index.tolist()]
    return np.array(inputs[index])


def _stamp(finding: Finding, evidence: dict[str, Any], triggers: Any, clean: Any, t: int) -> Any:
    if finding.check == "probes.triggers":
        probes = {p.name: p for p in getattr(triggers, "probes", ())}
        probe = probes.get(str(evidence.get("probe")))
        if probe is None:
            return None
        stamped = probe.apply(list(clean) if isinstance(clean, list) else clean.copy())
        return stamped if isinstance(stamped, list) else np.asarray(stamped, dtype=clean.dtype)
    inversion = getattr(triggers, "inversion", None)
    if inversion is None:
        return None
    mask = np.asarray(inversion.masks[t], dtype=np.float64)
    pattern = np.asarray(inversion.patterns[t], dtype=np.float64)
    try:
        stamped = (1 - mask) * clean.astype(np.float64) + mask * pattern
    except ValueError:  # a mask layout this image does not broadcast to
        return None
    return stamped.astype(clean.dtype)
