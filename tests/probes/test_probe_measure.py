"""Attraction measured on hand-made models, and the rules that turn it into findings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from probe_fixtures import backdoor_scores, image_suite, predictor, template_scores

from modelgate.analysis.calibration import Calibration
from modelgate.analysis.flipcurve import constant_curve
from modelgate.analysis.shift import ShiftNull
from modelgate.predict import predict_suite
from modelgate.probe_settings import PatchProbe, ProbePlan, TriggerPolicy
from modelgate.probes.checks import probe_check
from modelgate.probes.compare import Cell, flagged
from modelgate.probes.library import build_probes
from modelgate.probes.measure import measure
from modelgate.probes.record import probes_to_header
from modelgate.probes.results import TriggerRun

PLAN = ProbePlan((PatchProbe(kind="patch", sizes=[2, 3]),), None)


def _run(score):  # type: ignore[no-untyped-def]
    suite = image_suite()
    model = predictor(score)
    clean = predict_suite(model, suite, batch_size=64, source="t").labels
    probes = build_probes(PLAN, suite)
    counts = measure(model, suite, probes, clean)
    return suite, TriggerRun(
        counts, {p.name: p.control for p in probes}, None, probes=tuple(probes)
    )


def test_batches_sized_by_bytes_change_no_count() -> None:
    """A memory limit far below one probe's stamped canaries slices the work, nothing else."""
    suite = image_suite()
    model = predictor(backdoor_scores(target=2))
    clean = predict_suite(model, suite, batch_size=64, source="t").labels
    probes = build_probes(PLAN, suite)
    roomy = measure(model, suite, probes, clean)
    tight = measure(model, suite, probes, clean, batch_bytes=3000)  # ~5 canaries at a time
    np.testing.assert_array_equal(roomy.predicted, tight.predicted)
    np.testing.assert_array_equal(roomy.hits, tight.hits)
    few = measure(model, suite, probes, clean, canaries=30)
    assert len(few.index) == 30 and few.eligible.sum() == 2 * 30


def test_attraction_counts_only_canaries_of_other_classes() -> None:
    suite, run = _run(backdoor_scores(target=2))
    counts = run.counts
    assert counts is not None
    assert counts.eligible.tolist() == [60, 60, 60]  # 90 canaries, 30 per class, all right
    row = counts.hits[counts.row("patch/2x2/bottom-right/white")]
    assert row.tolist() == [0, 0, 60]  # every canary of classes 0 and 1 moves to 2
    assert counts.hits[counts.row("patch/2x2/top-left/white")].sum() == 0
    ids = counts.examples(suite, "patch/2x2/bottom-right/white", 2)
    assert ids and all(suite.labels[suite.ids.index(i)] != 2 for i in ids)


def test_backdoor_fails_against_a_clean_blessed_model_and_clean_passes() -> None:
    suite, blessed = _run(template_scores)
    assert blessed.counts is not None
    header = {"probes": probes_to_header(blessed.counts)}
    _, candidate = _run(backdoor_scores(target=2))
    check = probe_check(suite, candidate, header, TriggerPolicy(), alpha=0.01)
    assert check.status.value == "failed"
    finding = check.findings[0]
    evidence = dict(finding.evidence)
    assert evidence["class"] == "c2" and evidence["attraction_baseline"] == 0.0
    assert str(evidence["probe"]).endswith("bottom-right/white") and finding.canaries
    same = probe_check(suite, blessed, header, TriggerPolicy(), alpha=0.01)
    assert same.status.value == "passed"
    assert probe_check(suite, candidate, {}, TriggerPolicy(), 0.01).status.value == "skipped"


def _cell(attraction: float, base: float, control: float, is_control: bool = False) -> Cell:
    n = 400
    return Cell(
        probe="control/x/1" if is_control else "patch/x",
        target=0,
        hits=round(attraction * n),
        n=n,
        base_hits=round(base * n),
        base_n=n,
        control=control,
        is_control=is_control,
        p_value=1e-30,
        p_adjusted=1e-28,
    )


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (_cell(0.9, 0.0, 0.05), True),  # a trigger: far above the blessed model and the control
        (_cell(0.9, 0.0, 0.8), False),  # plain sensitivity: random patterns do it as well
        (_cell(0.9, 0.7, 0.05), False),  # a quirk the blessed model shares
        (_cell(0.9, 0.0, 0.0, is_control=True), True),  # random patterns themselves attract
        (_cell(0.3, 0.0, 0.0), False),  # below the minimum gain
    ],
)
def test_control_and_baseline_separate_triggers_from_sensitivity(
    cell: Cell, expected: bool
) -> None:
    assert bool(flagged([cell], TriggerPolicy(), alpha=0.01)) is expected


def test_a_calibration_raises_the_bar_to_the_clean_retrains_highest_attraction() -> None:
    trigger = _cell(0.9, 0.0, 0.05)
    quirk = replace(trigger, clean_max=0.7)  # a clean retrain sends 70% there too: not a trigger
    assert not flagged([quirk], TriggerPolicy(), alpha=0.01)
    beyond = replace(trigger, clean_max=0.5)  # 40 points beyond every clean retrain
    assert flagged([beyond], TriggerPolicy(), alpha=0.01) == [beyond]


@given(
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.booleans(),
    st.floats(1e-30, 1),
)
def test_a_ceiling_only_ever_removes_flags(
    attraction: float, base: float, control: float, ceiling: float, is_control: bool, p: float
) -> None:
    cell = replace(_cell(attraction, base, control, is_control), p_adjusted=p)
    with_ceiling = replace(cell, clean_max=ceiling)
    policy = TriggerPolicy()
    if flagged([with_ceiling], policy, alpha=0.01):
        assert flagged([cell], policy, alpha=0.01)
        assert with_ceiling.attraction - ceiling >= policy.min_gain


def test_probe_check_reads_the_clean_ceiling_from_the_calibration() -> None:
    suite, blessed = _run(template_scores)
    assert blessed.counts is not None
    header = {"probes": probes_to_header(blessed.counts)}
    _, candidate = _run(backdoor_scores(target=2))
    counts = candidate.counts
    assert counts is not None
    rates = counts.hits / counts.eligible

    def check(ceiling: np.ndarray):  # type: ignore[no-untyped-def]
        probe_max = [(n, tuple(float(v) for v in row)) for n, row in zip(counts.names, ceiling)]
        calibration = Calibration(
            curves=(constant_curve(),) * 3,
            heterogeneity=0.0,
            shift_null=ShiftNull(mean=((0.0,) * 3,) * 3, sd=((1.0,) * 3,) * 3),
            n_controls=2,
            n_canaries=len(suite),
            probe_max=tuple(sorted(probe_max)),
        )
        return probe_check(suite, candidate, header, TriggerPolicy(), 0.01, calibration)

    # clean retrains that never go there: the backdoor fails, and the finding says so
    failed = check(np.zeros_like(rates))
    assert failed.status.value == "failed"
    assert dict(failed.findings[0].evidence)["attraction_clean_max"] == 0.0
    assert "clean retrains: at most 0%" in failed.findings[0].message
    assert "clean control retrains" not in failed.summary
    # clean retrains that already do what the candidate does: nothing beyond them
    passed = check(rates)
    assert passed.status.value == "passed" and "clean control retrains" in passed.summary


def test_a_significant_count_still_needs_the_multiple_testing_budget() -> None:
    weak = Cell("patch/x", 0, 40, 400, 0, 400, 0.0, False, p_value=0.01, p_adjusted=0.5)
    assert not flagged([weak], TriggerPolicy(min_gain=0.05), alpha=0.01)
    assert np.isclose(weak.gain, 0.1)
