"""The terminal summary: the verdict and what to look at first, in a screenful.

Untrusted text is shown through `terminal_text`, so a label cannot carry a newline that starts a
line of its own, nor a workflow command: in a GitHub Actions log a line starting with `::error::`
or `::add-mask::`, and `##[error]` anywhere, is a command, and an escape sequence would repaint
the terminal.
"""

from __future__ import annotations

import os
from typing import TextIO

from modelgate.report.escape import terminal_text
from modelgate.report.json import round_margin, statistics_text
from modelgate.report.markdown import percent, rank_flips, short_digest
from modelgate.result import CanaryFlip, Check, Finding, GateResult, Status, Verdict

TOP_FLIPS = 10
MAX_FINDING_CANARIES = 10

_RESET = "\x1b[0m"
_STYLE = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33"}
_STATUS_STYLE = {Status.FAILED: "red", Status.WARNED: "yellow"}


def use_color(stream: TextIO | None) -> bool:
    """Colour when `FORCE_COLOR` asks, never when `NO_COLOR` is set, else only on a terminal.

    Follows no-color.org and CPython 3.13: an empty variable counts as unset, NO_COLOR wins.
    """
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_STYLE[style]}m{text}{_RESET}" if color else text


def _show(text: object) -> str:
    return terminal_text(text)


def render(result: GateResult, *, color: bool) -> str:
    """The summary as text, ending with a newline; ANSI colours only when `color` is true."""
    lines = _headline(result, color)
    for check in result.checks:
        if check.status in (Status.FAILED, Status.WARNED):
            lines.append("")
            lines += _check(check, color)
    lines += _flips(result, color)
    return "\n".join(lines) + "\n"


def _headline(result: GateResult, color: bool) -> list[str]:
    m, s, c = result.metrics, result.suite, result.candidate
    passed = result.verdict is Verdict.PASSED
    verdict = _paint("PASSED", "green", color) if passed else _paint("FAILED", "red", color)
    counts = {st: sum(ch.status is st for ch in result.checks) for st in Status}
    order = (Status.FAILED, Status.WARNED, Status.PASSED, Status.SKIPPED)
    detail = ", ".join(f"{counts[st]} {st.value}" for st in order if counts[st]) or "no checks"
    code = ", runs its author's code" if c.carries_code else ""
    lines = [
        f"modelgate: {_paint(verdict, 'bold', color)} ({detail})",
        f"  suite {_show(s.name)}@{s.version} ({_show(short_digest(s.digest))}), "
        f"candidate {_show(c.path)} ({_show(c.format)}, sha256 "
        f"{_show(short_digest(c.sha256))}{code})",
        f"  canaries: {m.n_canaries:,}  accuracy: {percent(m.baseline_accuracy)} -> "
        f"{percent(m.candidate_accuracy)}",
        f"  flips: {m.negative_flips:,} negative, {m.positive_flips:,} positive, "
        f"{m.other_flips:,} other (NFR {percent(m.negative_flip_rate)}, "
        f"PFR {percent(m.positive_flip_rate)}); {m.unexplained_flips:,} unexplained",
    ]
    states = {
        st: sum(w.state == st for w in result.waivers) for st in ("used", "unused", "expired")
    }
    if result.waivers:
        lines.append("  waivers: " + ", ".join(f"{n} {st}" for st, n in states.items()))
    lines += [f"  note: {_show(note)}" for note in result.notes]
    return lines


def _check(check: Check, color: bool) -> list[str]:
    label = _paint(check.status.value.upper(), _STATUS_STYLE[check.status], color)
    lines = [f"{label} {_show(check.name)}: {_show(check.summary)}"]
    for finding in check.findings:
        lines += _finding(finding)
    return lines


def _finding(f: Finding) -> list[str]:
    lines = [f"  - {_show(f.message)}"]
    stats = statistics_text(f, _show)
    if stats:
        lines.append("    " + stats)
    if f.canaries:
        shown = ", ".join(_show(c) for c in f.canaries[:MAX_FINDING_CANARIES])
        more = len(f.canaries) - MAX_FINDING_CANARIES
        tail = f" (+{more:,} more in the report)" if more > 0 else ""
        lines.append(f"    canaries ({len(f.canaries):,}): {shown}{tail}")
    return lines


def _flip_line(f: CanaryFlip) -> str:
    tags = f" [{', '.join(_show(t) for t in f.tags)}]" if f.tags else ""
    waiver = f"  waived: {_show(f.waiver)}" if f.waiver else ""
    return (
        f"  {_show(f.id)}  label {_show(f.label)}: {_show(f.baseline)} -> {_show(f.candidate)}"
        f"  {f.kind.value}  margin {round_margin(f.baseline_margin)} -> "
        f"{round_margin(f.candidate_margin)}{tags}{waiver}"
    )


def _flips(result: GateResult, color: bool) -> list[str]:
    if not result.flips:
        return []
    total = len(result.flips)
    shown = rank_flips(result.flips, TOP_FLIPS)
    lines = ["", _paint(f"Top flips ({len(shown)} of {total:,}):", "bold", color)]
    lines += [_flip_line(f) for f in shown]
    if total > len(shown):
        lines.append(f"  {total - len(shown):,} more in the report.")
    return lines
