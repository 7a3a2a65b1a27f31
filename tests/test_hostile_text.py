"""Hostile canary ids and labels through every front end that writes to a terminal or CI log.

In a GitHub Actions log a line starting with `::error::` and `##[error]` anywhere is a workflow
command; an escape sequence repaints the terminal. The suite, not modelgate, chose these names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import build_project, linear_weights, save_weights

from modelgate.cli import main

# A suite refuses control characters in class names (see tests/suite), so escapes ride in the ids.
CLASSES = ("::set-output name=x::cat", "##[error]dog", "eel::warning::x")
ID_PATTERNS = ("::error file=a::pwned-{:03d}", "##[warning]w{:03d}", "\x1b]8;;https://x\x07l{:03d}")
IDS = [ID_PATTERNS[i % 3].format(i) for i in range(240)]
FORBIDDEN = ("::", "##[", "\x1b", "\x07")


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    config = build_project(tmp_path, classes=CLASSES, ids=IDS, name="::error::suite")
    save_weights(tmp_path / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    return config


def _clean(text: str) -> None:
    for bad in FORBIDDEN:
        assert bad not in text, (bad, [line for line in text.splitlines() if bad in line][:3])


def test_the_console_report_carries_no_command(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "-c", str(hostile)]) == 1
    out, err = capsys.readouterr()
    assert "FAILED" in out and "pwned" in out  # the flips are listed, escaped
    _clean(out + err)


def test_bless_and_history_output_carry_no_command(
    hostile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bless", "-c", str(hostile), "--force", "--reason", "::error::why"]) == 0
    for argv in (["history"], ["history", "--json"], ["history", "--canary", IDS[0]]):
        assert main([*argv, "-c", str(hostile)]) == 0
    out, err = capsys.readouterr()
    assert "pwned" in out
    _clean(out + err)


def test_pytest_failure_text_carries_no_command(hostile: Path) -> None:
    from modelgate.config import load_config
    from modelgate.engine.check import run_gate
    from modelgate.report.failure import failure_text

    result = run_gate(load_config(hostile))
    text = "\n".join(failure_text(c, result) for c in result.checks if c.status.value == "failed")
    assert "pwned" in text
    _clean(text)
