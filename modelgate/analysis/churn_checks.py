"""The statistical checks against natural churn, turned into Checks with evidence.

`policy.alpha` is the false-alarm budget of the whole family: it is split by fixed weights
(Bonferroni) across the enabled tests (`policy.AlphaPlan`), and each test corrects within
itself (Holm).
Waived flips are removed from the observed counts only, never from the churn null, so a waiver
can only weaken a finding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modelgate.analysis.blas import one_blas_thread
from modelgate.analysis.calibration import Calibration
from modelgate.analysis.churn import (
    CellResult,
    attraction_test,
    destination_test,
    expected_matrix,
    margin_collapse,
)
from modelgate.analysis.flipcurve import FlipCurve, per_class, self_calibrated_curves
from modelgate.analysis.flips import FlipTable
from modelgate.analysis.reversal import reversal_test
from modelgate.analysis.stats import holm_adjusted, mcnemar_exact
from modelgate.analysis.tails import t_sf
from modelgate.policy import AlphaPlan, apply_mode
from modelgate.predict import Predictions
from modelgate.result import Check, CheckName, Finding, Status
from modelgate.suite.format import Suite

_MAX_IDS = 20


def _p(p: float) -> float:
    return float(f"{p:.4g}")


def _ids(
    suite: Suite, indices: Sequence[int] | np.ndarray, *, by_id: bool = False
) -> tuple[str, ...]:
    """Canary ids of `indices`, the first _MAX_IDS; `by_id` when their order carries nothing
    (suite order would make the report depend on how the suite file happens to be sorted)."""
    if by_id:
        indices = sorted((int(i) for i in indices), key=lambda i: suite.ids[i])
    return tuple(suite.ids[int(i)] for i in indices[:_MAX_IDS])


def _cell_finding(check: str, cell: CellResult, suite: Suite) -> Finding:
    classes = suite.classes
    evidence: list[tuple[str, object]] = [
        ("expected", round(cell.expected, 4)),
        ("observed", round(cell.observed, 4)),
        ("p_adjusted", _p(cell.p_adjusted)),
        ("to", classes[cell.new_class]),
    ]
    if cell.true_class is not None:
        evidence.append(("from", classes[cell.true_class]))
    return Finding(
        check=check,
        message=cell.message[0].upper() + cell.message[1:] + ".",
        test=cell.test,
        statistic=round(cell.statistic, 4),
        p_value=_p(cell.p_value),
        canaries=_ids(suite, cell.indices, by_id=cell.test == "attraction_count"),
        evidence=tuple(sorted(evidence)),
    )


def _observed(base: Predictions, cand: Predictions, explained: np.ndarray) -> np.ndarray:
    """The candidate's labels with waived flips put back to the baseline's (read only; the
    candidate's own array when nothing is waived: no copy of N labels)."""
    return np.where(explained, base.labels, cand.labels) if explained.any() else cand.labels


def _check(name: str, findings: list[Finding], passed: str, failed: str) -> Check:
    if findings:
        return Check(name, Status.FAILED, failed, tuple(findings))
    return Check(name, Status.PASSED, passed)


def statistical_checks(
    suite: Suite,
    base: Predictions,
    cand: Predictions,
    table: FlipTable,
    explained: np.ndarray,
    plan: AlphaPlan,
    calibration: Calibration | None = None,
) -> list[Check]:
    """McNemar, per-class McNemar, destination, attraction and protected margin collapse."""
    with one_blas_thread():  # the same sums on every machine, whatever its cores
        return _statistical_checks(suite, base, cand, table, explained, plan, calibration)


def _statistical_checks(
    suite: Suite,
    base: Predictions,
    cand: Predictions,
    table: FlipTable,
    explained: np.ndarray,
    plan: AlphaPlan,
    calibration: Calibration | None,
) -> list[Check]:
    alpha = plan.share
    y = suite.labels
    # Waived flips look unflipped to the count tests; the null still sees every flip.
    observed_pred = _observed(base, cand, explained)
    curves: Sequence[FlipCurve]
    if calibration is not None:
        curves = calibration.curves
    else:
        curves = self_calibrated_curves(y, base.labels, cand.labels, base.log_probs)
    source = (
        "calibrated on control retrains"
        if calibration is not None
        else "self-calibrated from this pair, leave-one-class-out"
    )
    # One expected regression matrix for both count tests: the same inputs, one pass.
    expected = expected_matrix(
        y, base.labels, base.log_probs, per_class(curves, len(suite.classes))
    )
    checks = [
        _mcnemar(table, explained, alpha, calibration),
        _per_class(suite, table, explained, alpha, calibration),
        _destination(suite, base, observed_pred, curves, alpha, source, expected),
        _attraction(suite, base, cand, observed_pred, curves, alpha, calibration, expected),
        _margin_collapse(suite, base, cand, alpha),
        _reversal(suite, base, cand, explained, plan.share_of(CheckName.REVERSAL), calibration),
    ]
    return [apply_mode(check, plan.mode(CheckName(check.name))) for check in checks]


def paired_regression_p(
    n_neg: int, n_pos: int, calibration: Calibration | None, group: int | None
) -> tuple[float, str]:
    """One-sided p that a group regressed more than a clean retrain would, and the test used.

    Exact McNemar assumes a retrain no worse than the baseline; clean retrains vary in quality,
    so with a calibration the net regressions are compared with the controls' instead.
    """
    null = calibration.net_regression_null(group) if calibration is not None else None
    if null is None:
        return mcnemar_exact(n_neg, n_pos), "mcnemar_exact"
    mean, sd, df = null
    return float(t_sf((n_neg - n_pos - mean) / sd, df)), "net_regressions_vs_controls"


def _mcnemar(
    table: FlipTable, explained: np.ndarray, alpha: float, calibration: Calibration | None
) -> Check:
    n_neg = int((table.negative & ~explained).sum())
    n_pos = int(table.positive.sum())
    p, test = paired_regression_p(n_neg, n_pos, calibration, None)
    calibrated = test != "mcnemar_exact"
    against = "clean control retrains" if calibrated else "a retrain no worse (exact McNemar)"
    summary = f"{n_neg} right->wrong vs {n_pos} wrong->right flips (p = {p:.2g} against {against})"
    if p <= alpha:
        more = (
            f"more than clean control retrains do (p = {p:.2g})"
            if calibrated
            else f"more than a retrain no worse than the baseline would (exact McNemar p = {p:.2g})"
        )
        finding = Finding(
            check=CheckName.MCNEMAR,
            message=f"The candidate turned {n_neg} canaries from right to wrong but only {n_pos} "
            f"from wrong to right, {more}.",
            test=test,
            statistic=float(n_neg - n_pos),
            p_value=_p(p),
            evidence=(("negative_flips", n_neg), ("positive_flips", n_pos)),
        )
        return Check(CheckName.MCNEMAR, Status.FAILED, summary, (finding,))
    return Check(CheckName.MCNEMAR, Status.PASSED, summary)


def _per_class(
    suite: Suite,
    table: FlipTable,
    explained: np.ndarray,
    alpha: float,
    calibration: Calibration | None,
) -> Check:
    classes, y = suite.classes, suite.labels
    counts = [
        (
            int((table.negative & ~explained & (y == c)).sum()),
            int((table.positive & (y == c)).sum()),
        )
        for c in range(len(classes))
    ]
    tested = [paired_regression_p(neg, pos, calibration, c) for c, (neg, pos) in enumerate(counts)]
    p = [pv for pv, _ in tested]
    adjusted = holm_adjusted(p)
    findings = []
    for c, ((neg, pos), (pv, test), pa) in enumerate(zip(counts, tested, adjusted)):
        if pa <= alpha:
            idx = np.flatnonzero(table.negative & ~explained & (y == c))
            findings.append(Finding(
                check=CheckName.PER_CLASS,
                message=f"Class '{classes[c]}' lost {neg} canaries and regained {pos} "
                f"(one-sided {test.replace('_', ' ')} p = {pv:.2g}, Holm-adjusted {pa:.2g}).",
                test=test, statistic=float(neg - pos), p_value=_p(pv),
                canaries=_ids(suite, idx, by_id=True),
                evidence=(("class", classes[c]), ("negative_flips", neg),
                          ("p_adjusted", _p(pa)), ("positive_flips", pos)),
            ))  # fmt: skip
    return _check(
        CheckName.PER_CLASS,
        findings,
        f"no class loses significantly more canaries than it gains ({len(classes)} classes, Holm)",
        f"{len(findings)} class(es) lose significantly more canaries than they gain",
    )


def _destination(
    suite: Suite,
    base: Predictions,
    observed_pred: np.ndarray,
    curves: Sequence[FlipCurve],
    alpha: float,
    source: str,
    expected: np.ndarray,
) -> Check:
    cells = destination_test(
        suite.labels,
        base.labels,
        observed_pred,
        base.log_probs,
        curves,
        alpha,
        classes=suite.classes,
        expected=expected,
    )
    findings = [_cell_finding(CheckName.DESTINATION, c, suite) for c in cells if c.significant]
    k = len(suite.classes)
    return _check(
        CheckName.DESTINATION,
        findings,
        f"regressions spread like clean churn ({k * (k - 1)} cells, null {source})",
        f"{len(findings)} cell(s) of the regression matrix exceed clean churn (null {source})",
    )


def _attraction(
    suite: Suite,
    base: Predictions,
    cand: Predictions,
    observed_pred: np.ndarray,
    curves: Sequence[FlipCurve],
    alpha: float,
    calibration: Calibration | None,
    expected: np.ndarray,
) -> Check:
    # Two views of one question (count and shift); each gets half of this test's alpha.
    cells = attraction_test(
        suite.labels,
        base.labels,
        observed_pred,
        base.log_probs,
        cand.log_probs,
        curves,
        alpha / 2,
        classes=suite.classes,
        shift_null=calibration.shift_null if calibration else None,
        expected=expected,
    )
    findings = [_cell_finding(CheckName.ATTRACTION, c, suite) for c in cells if c.significant]
    return _check(
        CheckName.ATTRACTION,
        findings,
        "no class attracts canaries of other classes beyond clean churn",
        f"{len(findings)} class(es) attract canaries beyond clean churn",
    )


def _margin_collapse(suite: Suite, base: Predictions, cand: Predictions, alpha: float) -> Check:
    protected = suite.tagged("protected")
    if not protected.any():
        return Check(CheckName.MARGIN_COLLAPSE, Status.SKIPPED, "no canary is tagged protected")
    results = margin_collapse(
        base.margins(suite.labels), cand.margins(suite.labels), protected, alpha, ids=suite.ids
    )
    findings = [
        Finding(
            check=CheckName.MARGIN_COLLAPSE,
            message=r.message[0].upper() + r.message[1:] + ".",
            test="margin_collapse",
            statistic=round(r.z, 4),
            p_value=_p(r.p_value),
            canaries=(suite.ids[r.index],),
            evidence=(
                ("baseline_margin", round(r.base_margin, 4)),
                ("candidate_margin", round(r.cand_margin, 4)),
                ("expected_margin", round(r.expected_margin, 4)),
                ("p_adjusted", _p(r.p_adjusted)),
            ),
        )
        for r in results
        if r.significant
    ]
    return _check(
        CheckName.MARGIN_COLLAPSE,
        findings,
        f"no protected canary lost unusual margin ({int(protected.sum())} protected)",
        f"{len(findings)} protected canar{'y' if len(findings) == 1 else 'ies'} "
        f"lost far more margin than their peers",
    )


def _reversal(
    suite: Suite,
    base: Predictions,
    cand: Predictions,
    explained: np.ndarray,
    alpha: float,
    calibration: Calibration | None,
) -> Check:
    """Single canaries moved to a class far beyond what clean retrains do to them."""
    y, classes = suite.labels, suite.classes
    # Without controls' null, the test self-calibrates on this pair (`self_null`).
    null = calibration.canaries if calibration is not None else None
    # A waived flip is explained: it looks unflipped here, as in the count tests.
    observed = _observed(base, cand, explained)
    found = reversal_test(y, base.labels, observed, base.log_probs, cand.log_probs, null, alpha)
    against = (
        "clean control retrains, per canary and class"
        if null is not None and null.source == "controls"
        else "canaries of similar log-odds in this pair (no calibration)"
    )
    n_cells = int((base.labels == y).sum()) * (len(classes) - 1)
    findings = []
    for r in found:
        cid, old, new = suite.ids[r.index], classes[int(y[r.index])], classes[r.new_class]
        weighed = (
            f"{r.p_adjusted:.2g} adjusted over {n_cells} canary x class cells, each weighted by "
            f"how far it was from flipping"
            if r.together == 1
            else f"alone not significant; one of the {r.together} canaries that moved this far "
            f"at once, a count clean churn gives with p = {r.p_adjusted:.2g} adjusted over "
            f"{n_cells} canary x class cells"
        )
        findings.append(Finding(
            check=CheckName.REVERSAL,
            message=f"Canary '{cid}' ({old}, right on the blessed model) is now '{new}' with "
            f"log-odds {r.cand_odds:+.2f} for '{new}' over '{old}' (blessed model "
            f"{r.base_odds:+.2f}); clean retrains give this canary {r.expected_odds:+.2f} "
            f"(z = {r.z:.1f}, p = {r.p_value:.2g}; {weighed}).",
            test="reversal", statistic=round(r.z, 4), p_value=_p(r.p_value),
            canaries=(cid,),
            evidence=(("baseline_log_odds", round(r.base_odds, 4)),
                      ("candidate_log_odds", round(r.cand_odds, 4)),
                      ("expected_log_odds", round(r.expected_odds, 4)),
                      ("from", old), ("p_adjusted", _p(r.p_adjusted)), ("to", new),
                      ("together", r.together)),
        ))  # fmt: skip
    return _check(
        CheckName.REVERSAL,
        findings,
        f"no canary moved beyond what clean churn does to it ({n_cells} canary x class cells, "
        f"null from {against}, weighted by how far each was from flipping)",
        f"{len(findings)} canar{'y' if len(findings) == 1 else 'ies'} moved to a class far "
        f"beyond clean churn (null from {against})",
    )
