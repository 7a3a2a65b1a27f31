"""A failing check as plain lines for a test runner's failure report (the pytest plugin)."""

from __future__ import annotations

from typing import Any

from modelgate.report.escape import terminal_text
from modelgate.result import Check, GateResult

MAX_CANARIES = 10  # flipped canaries shown per finding; the reports list them all


def failure_text(check: Check, result: GateResult | None) -> str:
    """The check's summary, each finding's sentence and its top flipped canaries, on lines."""
    lines = [f"{terminal_text(check.name)}: {terminal_text(check.summary)}"]
    flips: dict[str, Any] = {}
    if result is not None:
        from modelgate.flipped import FlippedCanaries  # numpy: only when there are flips to show

        wanted = {c for finding in check.findings for c in finding.canaries[:MAX_CANARIES]}
        flips = (
            result.flips.lookup(wanted)
            if isinstance(result.flips, FlippedCanaries)
            else {f.id: f for f in result.flips if f.id in wanted}
        )
    for finding in check.findings:
        lines.append(f"- {terminal_text(finding.message)}")
        if finding.p_value is not None:
            test = terminal_text(finding.test or "?")
            alpha = f" (alpha {check.alpha:.3g})" if check.alpha is not None else ""
            lines.append(f"  test: {test}, p-value: {finding.p_value}{alpha}")
        shown = finding.canaries[:MAX_CANARIES]
        flipped = [flips[c] for c in shown if c in flips]
        others = [terminal_text(c) for c in shown if c not in flips]
        lines += [
            f"  {terminal_text(f.id)}  label {terminal_text(f.label)}: "
            f"{terminal_text(f.baseline)} -> {terminal_text(f.candidate)}  "
            f"margin {f.baseline_margin:.4g} -> {f.candidate_margin:.4g}"
            for f in flipped
        ]
        if others:
            lines.append(f"  canaries: {', '.join(others)}")
        if len(finding.canaries) > len(shown):
            more = len(finding.canaries) - len(shown)
            lines.append(f"  ... and {more} more in the report")
    return "\n".join(lines)
