"""GateResults built by hand, so the reporters are tested without running a model.

The failing result carries the hostile text a poisoned suite or candidate could bring: table
pipes, HTML, GitHub workflow commands, newlines, terminal escapes and bidi overrides.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelgate.result import (
    BaselineInfo,
    CanaryFlip,
    Check,
    Finding,
    FlipKind,
    GateResult,
    GroupMetrics,
    Metrics,
    ModelInfo,
    Picture,
    Status,
    SuiteInfo,
    Verdict,
    WaiverState,
    WaiverUse,
)

HOSTILE_LABELS = ("a|b<script>", "::error::x", "100%", "line1\nline2", "\x1b[31mred", "@org/team")

SUITE = SuiteInfo(
    name="digits",
    version=3,
    digest="sha256:" + "ab12" * 16,
    modality="image",
    n_canaries=1000,
    classes=tuple(str(i) for i in range(10)) + HOSTILE_LABELS,
)
CANDIDATE = ModelInfo(
    path="models/candidate.pt2", format="export", sha256="c0ffee00" * 8, carries_code=True
)
BASELINE = BaselineInfo(
    path="baselines/digits.json",
    sha256="b1e55ed0" * 8,
    model_sha256="0ddba11a" * 8,
    blessed_at="2024-05-01T12:00:00+00:00",
    git_commit="deadbeefcafef00d1234",
)


def _flips(n_extra: int) -> tuple[CanaryFlip, ...]:
    hostile = [
        CanaryFlip(f"hostile-{i}", label, label, "7", FlipKind.NEGATIVE, 0.5 + i / 10, -0.25)
        for i, label in enumerate(HOSTILE_LABELS)
    ]
    named = [
        CanaryFlip(
            "img-0001", "7", "7", "1", FlipKind.NEGATIVE, 0.812345678, -0.40001, ("protected",)
        ),
        CanaryFlip("img-0002", "3", "5", "3", FlipKind.POSITIVE, -0.1, 0.2),
        CanaryFlip("img-0003", "4", "9", "1", FlipKind.OTHER, -0.05, -0.3),
        CanaryFlip(
            "img|0004<b>",
            "2",
            "2",
            "8",
            FlipKind.NEGATIVE,
            0.01,
            -0.02,
            ("`tag`", "*x*"),
            waiver="relabelled upstream (alice)",
        ),
    ]
    extra = [
        CanaryFlip(f"bulk-{i:04d}", "0", "0", "6", FlipKind.NEGATIVE, 0.001 * i, -0.01)
        for i in range(n_extra)
    ]
    return tuple(hostile + named + extra)


def build_result(*, failing: bool, n_extra_flips: int = 0) -> GateResult:
    """A realistic result; `n_extra_flips` adds plain flips to test truncation notes."""
    flips = _flips(n_extra_flips) if failing else ()
    negative = sum(f.kind is FlipKind.NEGATIVE for f in flips)
    positive = sum(f.kind is FlipKind.POSITIVE for f in flips)
    other = len(flips) - negative - positive
    mcnemar = Finding(
        check="flips",
        message=f"Negative flips outnumber positive ones beyond churn: {negative} vs {positive}.",
        test="mcnemar_exact",
        statistic=11.000000123,
        p_value=0.000123456789,
        canaries=tuple(f.id for f in flips if f.kind is FlipKind.NEGATIVE),
        evidence=(("expected", 2.3456789), ("observed", negative), ("pair", ("7", "1"))),
    )
    protected = Finding(
        check="protected",
        message="Protected canary img-0001 flipped 7 -> 1 | <b>bold</b>",
        canaries=("img-0001", "::error::x"),
    )
    destination = Finding(
        check="destination",
        message="Many-to-one drift into class 7 (not significant after Holm).",
        test="destination",
        statistic=3.5,
        p_value=0.04,
    )
    if failing:
        checks = (
            Check("accuracy", Status.PASSED, "accuracy 97.50% -> 96.90% (max drop 2.00 pt)"),
            Check(
                "flips", Status.FAILED, f"{negative} negative vs {positive} positive", (mcnemar,)
            ),
            Check("protected", Status.FAILED, "1 protected canary flipped", (protected,)),
            Check("destination", Status.WARNED, "drift into class 7", (destination,), 0.00125),
            Check("probes", Status.SKIPPED, "no probes configured"),
        )
    else:
        checks = (
            Check("accuracy", Status.PASSED, "accuracy 97.50% -> 97.60%"),
            Check("flips", Status.PASSED, "no flips"),
            Check("probes", Status.SKIPPED, "no probes configured"),
        )
    metrics = Metrics(
        n_canaries=1000,
        baseline_accuracy=0.975,
        candidate_accuracy=0.969 if failing else 0.976,
        negative_flips=negative,
        positive_flips=positive,
        other_flips=other,
        negative_flip_rate=negative / 1000,
        positive_flip_rate=positive / 1000,
        unexplained_flips=sum(f.waiver is None for f in flips),
        per_class=(GroupMetrics("7", 100, 99, 97, 2, 0, 0),),
        per_tag=(GroupMetrics("protected", 20, 20, 19, 1, 0, 0),),
    )
    waivers = (
        WaiverUse(
            "img|0004<b>", "8", "relabelled upstream", "alice", "2099-01-01", WaiverState.USED, 3
        ),
        WaiverUse("tag:noisy", "3", "known noisy | tag", "bob", None, WaiverState.UNUSED, 9),
        WaiverUse("img-0009", "1", "old fix", "carol", "2020-01-01", WaiverState.EXPIRED, 14),
    )
    return GateResult(
        verdict=Verdict.FAILED if failing else Verdict.PASSED,
        checks=checks,
        metrics=metrics,
        flips=flips,
        waivers=waivers if failing else (),
        suite=SUITE,
        candidate=CANDIDATE,
        baseline=BASELINE,
        config_path="modelgate.yaml",
        config_sha256="5eed" * 16,
        modelgate_version="0.1.0",
        notes=("self-calibrated: no calibration record given",) if failing else (),
        started_at="2024-06-01T10:00:00+00:00",
        finished_at="2024-06-01T10:01:30.500000+00:00",
        pictures=(
            Picture("modelgate-pictures/trigger-class-1.png", "Recovered trigger | class 1"),
        ),
    )


@pytest.fixture
def failing_result() -> GateResult:
    return build_result(failing=True)


@pytest.fixture
def passing_result() -> GateResult:
    return build_result(failing=False)


@pytest.fixture
def make_result() -> Callable[..., GateResult]:
    """The builder itself, for tests that need many flips or their own variant."""
    return build_result
