from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest

from modelgate.report.console import TOP_FLIPS, render, use_color
from modelgate.result import GateResult


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)


def test_failing_summary_content(failing_result: GateResult) -> None:
    text = render(failing_result, color=False)
    lines = text.splitlines()
    assert lines[0] == "modelgate: FAILED (2 failed, 1 warned, 1 passed, 1 skipped)"
    assert (
        "candidate models/candidate.pt2 (export, sha256 c0ffee00c0ff, runs its author's code)"
        in text
    )
    assert "  canaries: 1,000  accuracy: 97.50% -> 96.90%" in lines
    assert "  flips: 8 negative, 1 positive, 1 other (NFR 0.80%, PFR 0.10%); 9 unexplained" in lines
    assert "  waivers: 1 used, 1 unused, 1 expired" in lines
    assert "  note: self-calibrated: no calibration record given" in lines
    assert "FAILED flips: 8 negative vs 1 positive" in lines
    assert "    test: mcnemar_exact, statistic: 11.0, p-value: 0.0001235" in lines
    assert "WARNED destination: drift into class 7" in lines
    assert "    canaries (2): img-0001, :\\u003aerror:\\u003ax" in lines  # no workflow command
    assert not any(line.startswith(("PASSED", "SKIPPED")) for line in lines)
    assert "  img-0001  label 7: 7 -> 1  negative  margin 0.8123 -> -0.4 [protected]" in lines


def test_hostile_text_cannot_start_a_line_or_paint_the_terminal(
    failing_result: GateResult,
) -> None:
    text = render(failing_result, color=False)
    assert "\x1b" not in text
    for line in text.splitlines():
        assert not line.lstrip().startswith("::"), line  # a GitHub workflow command
    assert "label line1\\nline2: line1\\nline2 -> 7" in text
    assert "label \\u001b[31mred:" in text


def test_color_only_when_asked(failing_result: GateResult) -> None:
    plain = render(failing_result, color=False)
    painted = render(failing_result, color=True)
    assert "\x1b" not in plain
    assert plain == _strip_ansi(painted)
    assert "\x1b[31mFAILED\x1b[0m" in painted
    assert "\x1b[33mWARNED\x1b[0m" in painted
    assert painted.count("\x1b[31m") >= 3
    # Hostile escapes stay visible text even in colour mode.
    assert "\\u001b[31mred" in painted


def test_passing_summary(passing_result: GateResult) -> None:
    text = render(passing_result, color=True)
    assert text.startswith("modelgate: \x1b[1m\x1b[32mPASSED\x1b[0m\x1b[0m (2 passed, 1 skipped)\n")
    assert "Top flips" not in text and "FAILED" not in text and "note:" not in text


def test_top_flips_then_how_many_more(make_result: Callable[..., GateResult]) -> None:
    result = make_result(failing=True, n_extra_flips=25)
    lines = render(result, color=False).splitlines()
    start = lines.index(f"Top flips ({TOP_FLIPS} of 35):")
    flips = lines[start + 1 : start + 1 + TOP_FLIPS]
    assert flips[0].startswith("  hostile-5  ")
    assert lines[start + 1 + TOP_FLIPS] == "  25 more in the report."


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": "0"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # no-color.org: an empty value counts as unset
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
        ({"TERM": "dumb"}, True, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, False, True),
    ],
)
def test_use_color(
    env: dict[str, str], tty: bool, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert use_color(_Tty() if tty else io.StringIO()) is expected


def test_use_color_survives_odd_streams() -> None:
    closed = io.StringIO()
    closed.close()  # isatty() now raises ValueError
    assert use_color(closed) is False
    assert use_color(None) is False
    assert use_color(object()) is False  # type: ignore[arg-type]
