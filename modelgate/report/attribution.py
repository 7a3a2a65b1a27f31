"""The Markdown section "Which training data drove it" (the contact sheets it links are drawn by
`attribution.sheets`). Every name from the suite or the manifest is untrusted and
goes through `escape.markdown_text`; picture file names use finding numbers only. It reads an
`attribution.result.AttributionReport` by its fields (no import: the attribution package
writes these reports, so the report layer stays below it)."""

from __future__ import annotations

from typing import Any

from modelgate.report.escape import markdown_text as md

SHOWN_ROWS = 10


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 or x == 0 else f"{x:.1%}"


def headline(f: Any) -> str:
    """'rows of source X carry 85% of the influence on ..., against 12% of the rows; p = ...'"""
    top = f.sources[0] if f.sources else None
    if top is None:
        return f"No training row has positive influence on {f.behaviour.summary}."
    verdict = "flagged" if top.flagged else "not flagged"
    return (
        f"Rows of source '{top.source}' carry {_pct(top.mass_share)} of the influence on "
        f"{f.behaviour.summary}, against {_pct(top.row_share)} of the rows "
        f"(p = {top.p_value:.2g}, Holm-adjusted {top.p_adjusted:.2g}: {verdict})."
    )


def markdown_section(report: Any, sheets: dict[int, str] | None = None) -> str:
    """The section as Markdown; `sheets` maps a finding's number to its contact sheet's path."""
    lines = ["## Which training data drove it", ""]
    b = report.budget
    lines.append(
        f"Training data {md(report.manifest)} (digest `{report.manifest_digest[:12]}`); "
        + (
            f"{b.rows_scored} of {b.rows_total} rows scored with {md(b.method)}, up to "
            f"{b.max_canaries} canaries per finding, {b.permutations} label-stratified "
            f"permutations per source test; alpha {report.alpha} (Holm)."
            if b
            else "nothing scored."
        )
    )
    lines.append("")
    if report.flagged_sources:
        lines.append(
            "**Quarantine**: the top rows of "
            + ", ".join(f"'{md(s)}'" for s in report.flagged_sources)
            + " (`quarantine.csv`, `attribution.json`)."
        )
    else:
        lines.append("No source carries more influence than its share of the rows predicts.")
    lines.append("")
    for n, f in enumerate(report.findings, start=1):
        lines += [f"### {n}. {md(f.behaviour.check)}", "", md(headline(f)), ""]
        lines += [f"Rows scored by: {md(f.behaviour.method)}.", ""]
        lines += [
            "| source | rows | share of rows | share of influence | p | Holm p |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for s in f.sources[:8]:
            flag = " **flagged**" if s.flagged else ""
            lines.append(
                f"| {md(s.source)}{flag} | {s.rows} | {_pct(s.row_share)} | "
                f"{_pct(s.mass_share)} | {s.p_value:.2g} | {s.p_adjusted:.2g} |"
            )
        lines += ["", "| rank | row | label | source | share |", "|---:|---|---|---|---:|"]
        for r in f.top_rows[:SHOWN_ROWS]:
            lines.append(
                f"| {r.rank} | {md(r.id)} | {md(r.label)} | {md(r.source)} | {_pct(r.share)} |"
            )
        if sheets and n in sheets:
            lines += ["", f"![top rows of finding {n}]({sheets[n]})"]
        lines.append("")
    for note in report.notes:
        lines.append(f"- {md(note)}")
    return "\n".join(lines).rstrip() + "\n"
