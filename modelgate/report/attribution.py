"""The Markdown section "Which training data drove it" and, for image training data, a contact
sheet of each finding's top rows. Every name from the suite or the manifest is untrusted and
goes through `escape.markdown_text`; picture file names use finding numbers only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelgate.attribution.result import AttributionReport, FindingAttribution
from modelgate.report.escape import markdown_text as md

SHOWN_ROWS = 10
SHEET_ROWS = 16  # tiles on a contact sheet
_TILE = 48
_GUTTER = 224


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 or x == 0 else f"{x:.1%}"


def headline(f: FindingAttribution) -> str:
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


def markdown_section(report: AttributionReport, sheets: dict[int, str] | None = None) -> str:
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


def contact_sheets(report: AttributionReport, data: Any, folder: Path) -> dict[int, str]:
    """One PNG per finding of its top rows (image training data only): file names by finding
    number; returns number -> file name."""
    rows = data.rows
    if rows.manifest.modality != "image":
        return {}
    from modelgate.atomic import write_bytes_atomic
    from modelgate.probes.image import layout, to_chw
    from modelgate.probes.png import png_bytes

    shape = tuple(rows.manifest.input.shape)
    kind = layout(shape)[3]
    out: dict[int, str] = {}
    for n, f in enumerate(report.findings, start=1):
        at = np.asarray([r.position for r in f.top_rows[:SHEET_ROWS]], dtype=np.int64)
        if not len(at):
            continue
        chw = to_chw(np.asarray(rows.inputs[np.sort(at)], dtype=np.float64), kind)
        chw = chw[np.argsort(np.argsort(at))]  # back to rank order
        name = f"attribution-finding-{n}.png"
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(folder / name, png_bytes(_sheet(chw)))
        out[n] = name
    return out


def _sheet(chw: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> one RGB strip, each tile scaled to the batch's own value range."""
    lo, hi = float(chw.min()), float(chw.max())
    img = np.clip((chw - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    scale = max(1, -(-_TILE // min(chw.shape[2:])))
    tiles = []
    for x in img:
        rgb = x[:3].transpose(1, 2, 0) if x.shape[0] >= 3 else np.repeat(x[0][..., None], 3, 2)
        tile = (rgb * 255).round().astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
        tiles += [tile, np.full((tile.shape[0], 4, 3), _GUTTER, dtype=np.uint8)]
    return np.concatenate(tiles[:-1], axis=1)
