"""The lines that tell a person what `bless` did; the CLI and the pytest plugin print these."""

from __future__ import annotations

from modelgate.report.escape import terminal_text
from modelgate.result import BlessOutcome

SHOWN_CHANGES = 20


def bless_lines(outcome: BlessOutcome, model: str) -> list[str]:
    """`model` is the blessed model as the config names it; every line is terminal-safe."""
    accuracy = f"canary accuracy {outcome.accuracy:.2%}" if outcome.accuracy is not None else ""
    if outcome.previous is None:
        return [
            terminal_text(f"blessed {model} as the first baseline: {outcome.path} ({accuracy})")
        ]
    n = len(outcome.changed)
    was = f"{outcome.previous.metrics.baseline_accuracy:.2%} -> "
    lines = [
        terminal_text(
            f"blessed: {outcome.path} ({n} canar{'y' if n == 1 else 'ies'} changed label; "
            f"canary accuracy {was}{accuracy.removeprefix('canary accuracy ')})"
        )
    ]
    lines += [f"  {terminal_text(canary_id)}" for canary_id in outcome.changed[:SHOWN_CHANGES]]
    if n > SHOWN_CHANGES:
        more = n - SHOWN_CHANGES
        lines.append(terminal_text(f"  ... and {more} more (see the diff of {outcome.path.name})"))
    return lines
