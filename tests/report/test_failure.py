"""A failing check as the lines a test runner shows: the summary, each finding, its flips."""

from __future__ import annotations

from dataclasses import replace

from modelgate.report.failure import MAX_CANARIES, failure_text
from modelgate.result import CanaryFlip, FlipKind, GateResult


def test_findings_with_their_test_alpha_and_flipped_canaries(failing_result: GateResult) -> None:
    check = failing_result.check("flips")
    lines = failure_text(check, failing_result).splitlines()
    assert lines[0] == f"flips: {check.summary}"
    assert lines[1].startswith("- Negative flips outnumber positive ones")
    assert lines[2] == "  test: mcnemar_exact, p-value: 0.000123456789"  # no alpha: not shared
    flipped = [line for line in lines if " -> " in line and "label" in line]
    negative = [f for f in failing_result.flips if f.kind is FlipKind.NEGATIVE]
    assert len(flipped) == min(MAX_CANARIES, len(negative))
    assert "  img-0001  label 7: 7 -> 1  margin 0.8123 -> -0.4" in lines


def test_canaries_that_did_not_flip_and_the_rest_count(failing_result: GateResult) -> None:
    check = failing_result.check("protected")
    text = failure_text(check, failing_result)
    assert "  img-0001  label 7: 7 -> 1" in text
    assert "::error::" not in text  # untrusted ids are neutralised, not echoed as commands
    many = replace(check.findings[0], canaries=tuple(f"c{i}" for i in range(MAX_CANARIES + 3)))
    extra = failure_text(replace(check, findings=(many,)), None)
    assert extra.splitlines()[-1] == "  ... and 3 more in the report"
    assert f"c{MAX_CANARIES - 1}" in extra and f"c{MAX_CANARIES}" not in extra


def test_the_alpha_a_shared_test_was_judged_at(failing_result: GateResult) -> None:
    check = failing_result.check("destination")
    assert "  test: destination, p-value: 0.04 (alpha 0.00125)" in failure_text(check, None)


def test_plain_flip_records_are_looked_up_too(failing_result: GateResult) -> None:
    flip = CanaryFlip("x-1", "3", "3", "8", FlipKind.NEGATIVE, 1.5, -0.5)
    check = failing_result.check("flips")
    finding = replace(check.findings[0], canaries=("x-1",))
    result = replace(failing_result, flips=[flip])
    text = failure_text(replace(check, findings=(finding,)), result)
    assert "  x-1  label 3: 3 -> 8  margin 1.5 -> -0.5" in text
