"""GitHub Actions rendering of a GateResult: annotations, the step summary and step outputs.

Labels, canary ids, messages and file names come from an untrusted suite or candidate. A line
the runner reads as a workflow command can mask secrets, stop command processing or forge an
annotation, so every piece of such text goes through `escape_data` / `escape_property` (GitHub's
own rules, `report.escape`) after `visible_text` has put it on one line.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from modelgate.report import markdown
from modelgate.report.escape import markdown_text as escape_md
from modelgate.report.escape import visible_text, workflow_data, workflow_property
from modelgate.result import Check, Finding, GateResult, Status

MAX_ANNOTATIONS = 10  # GitHub shows 10 error and 10 warning annotations per step
# GitHub refuses a step summary over 1024 KiB; the margin leaves room for the truncation note.
SUMMARY_LIMIT_BYTES = 1024 * 1024 - 4096

_LEVEL = {Status.FAILED: "error", Status.WARNED: "warning"}


@dataclass(frozen=True)
class Location:
    """Where an annotation points: a file relative to the repository root, and a line."""

    file: str
    line: int | None = None


Locator = Callable[[Check, Finding], "Location | None"]


escape_data = workflow_data  # the names this module's callers and tests know
escape_property = workflow_property


def command(name: str, message: object, **properties: object) -> str:
    """One workflow command line, `::name k=v,k=v::message`; None-valued properties are left out.

    Untrusted text is first made visible on one line (so a label cannot hide a newline or a bidi
    override), then escaped: the returned string never contains a line break.
    """
    props = ",".join(
        f"{key}={escape_property(visible_text(value))}"
        for key, value in properties.items()
        if value is not None and value != ""
    )
    head = f"::{name} {props}" if props else f"::{name}"
    return f"{head}::{escape_data(visible_text(message))}"


def ranked_findings(result: GateResult) -> list[tuple[Check, Finding]]:
    """Worst first: failed before warned, then smallest p-value (a hard budget counts as 0)."""
    pairs = [
        (check, finding)
        for check in result.checks
        if check.status in _LEVEL
        for finding in check.findings
    ]
    return sorted(
        pairs,
        key=lambda pair: (
            pair[0].status is not Status.FAILED,
            pair[1].p_value if pair[1].p_value is not None else 0.0,
            pair[0].name,
            pair[1].message,
        ),
    )


def annotation_lines(
    result: GateResult, limit: int = MAX_ANNOTATIONS, *, locate: Locator | None = None
) -> list[str]:
    """`::error` / `::warning` lines for the worst `limit` findings, then a notice of the rest."""
    ranked = ranked_findings(result)
    lines = []
    for check, finding in ranked[:limit]:
        where = locate(check, finding) if locate else None
        lines.append(
            command(
                _LEVEL[check.status],
                finding.message,
                file=where.file if where else None,
                line=where.line if where else None,
                title=f"modelgate {check.name}",
            )
        )
    hidden = len(ranked) - limit
    if hidden > 0:
        lines.append(
            command(
                "notice",
                f"{hidden} more finding(s) are not annotated here (GitHub shows {limit} per "
                "step); see the step summary and the modelgate report artifact.",
                title="modelgate: more findings",
            )
        )
    return lines


def step_summary(result: GateResult, report: str, *, limit_bytes: int = SUMMARY_LIMIT_BYTES) -> str:
    """The Markdown report, cut at a line boundary under GitHub's cap, pointing at `report`."""
    return fit_summary(markdown.render(result), report, limit_bytes=limit_bytes)


def fit_summary(text: str, report: str, *, limit_bytes: int = SUMMARY_LIMIT_BYTES) -> str:
    """`text` unchanged when it fits, else its first whole lines plus a pointer to `report`."""
    if len(text.encode("utf-8")) <= limit_bytes:
        return text
    note = (
        "\n\n---\n\n**This summary was cut** to fit GitHub's 1 MiB step-summary limit; the full "
        f"report is {escape_md(report)}.\n"
    )
    budget = limit_bytes - len(note.encode("utf-8"))
    kept: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        size = len(line.encode("utf-8"))
        if used + size > budget:
            break
        kept.append(line)
        used += size
    return "".join(kept).rstrip("\n") + note


def outputs(result: GateResult, paths: Mapping[str, Path | str]) -> dict[str, str]:
    """The step outputs a workflow branches on; all values are strings, as GitHub stores them."""
    return {
        "verdict": result.verdict.value,
        "exit-code": str(result.exit_code),
        "findings": str(len(result.findings)),
        "failed-checks": ",".join(result.failed_checks),
        "unexplained-flips": str(result.metrics.unexplained_flips),
        "report-json": str(paths.get("json", "")),
        "report-junit": str(paths.get("junit", "")),
        "report-markdown": str(paths.get("markdown", "")),
    }


def format_outputs(mapping: Mapping[str, str]) -> str:
    """`GITHUB_OUTPUT` / `GITHUB_ENV` text: `name=value`, or a heredoc for multi-line values.

    The heredoc delimiter is random and checked against the value, so a value cannot end it
    early and smuggle in another variable (for GITHUB_ENV that would be e.g. LD_PRELOAD).
    """
    parts = []
    for name, value in mapping.items():
        if not name or any(ch in name for ch in "=\r\n") or "<<" in name:
            raise ValueError(f"not a valid output name: {name!r}")
        value = str(value)
        if "\n" not in value and "\r" not in value:
            parts.append(f"{name}={value}\n")
            continue
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        while delimiter in value:  # astronomically unlikely, but checked, not assumed
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        parts.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(parts)


def write_outputs(path: str | Path, mapping: Mapping[str, str]) -> None:
    """Append `mapping` to a `GITHUB_OUTPUT` (or `GITHUB_ENV`) file."""
    with open(path, "a", encoding="utf-8", newline="\n") as handle:
        handle.write(format_outputs(mapping))
