"""The quarantine list beside the reports: ranked suspect rows (CSV) and the whole attribution
(JSON), written atomically, byte-identical for the same inputs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from modelgate.atomic import write_text_atomic
from modelgate.attribution.result import AttributionReport, FindingAttribution
from modelgate.report.escape import visible_text

QUARANTINE_CSV = "quarantine.csv"
QUARANTINE_JSON = "attribution.json"
ATTRIBUTION_FORMAT = 1
CSV_COLUMNS = ("finding", "rank", "id", "label", "source", "share", "source_flagged")


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def quarantine_csv(report: AttributionReport) -> str:
    """One line per (finding, top row), most influential first. Cells starting with = + - @
    are prefixed with a quote so a spreadsheet never runs a row id as a formula; control
    characters are shown as escapes, so a terminal showing the file runs none."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in report.findings:
        flagged = {s.source for s in f.flagged}
        for r in f.top_rows:
            writer.writerow([_cell(f.behaviour.check), r.rank, _cell(r.id), _cell(r.label),
                             _cell(r.source), repr(_round(r.share)),
                             "true" if r.source in flagged else "false"])  # fmt: skip
    return buffer.getvalue()


def _cell(text: str) -> str:
    """Untrusted text as one inert cell: control characters (a terminal escape in a source
    name) shown as escapes, and a leading formula character quoted."""
    shown = visible_text(text)
    return "'" + shown if shown[:1] in ("=", "+", "-", "@") else shown


def _finding(f: FindingAttribution, classes: tuple[str, ...]) -> dict[str, Any]:
    b = f.behaviour
    return {
        "check": b.check,
        "behaviour": b.summary,
        "method": b.method,
        "to": sorted({classes[t] if t < len(classes) else str(t) for t in b.targets.tolist()}),
        "canaries": list(b.canaries),
        "sources": [
            {
                "source": s.source,
                "rows": s.rows,
                "row_share": _round(s.row_share),
                "mass_share": _round(s.mass_share),
                "p_value": _round(s.p_value),
                "p_adjusted": _round(s.p_adjusted),
                "flagged": s.flagged,
            }
            for s in f.sources
        ],
        "top_rows": [
            {
                "rank": r.rank,
                "id": r.id,
                "label": r.label,
                "source": r.source,
                "share": _round(r.share),
            }
            for r in f.top_rows
        ],
    }


def attribution_json(report: AttributionReport) -> str:
    budget = report.budget
    data = {
        "format": ATTRIBUTION_FORMAT,
        "manifest": report.manifest,
        "manifest_digest": report.manifest_digest,
        "model_sha256": report.model_sha256,
        "alpha": report.alpha,
        "test": "label-stratified permutation of sources, one-sided, Holm over findings x sources",
        "budget": None
        if budget is None
        else {
            "method": budget.method,
            "rows_total": budget.rows_total,
            "rows_scored": budget.rows_scored,
            "max_canaries": budget.max_canaries,
            "permutations": budget.permutations,
        },
        "failing_checks": list(report.failing),
        "flagged_sources": list(report.flagged_sources),
        "quarantine": _quarantine(report),
        "findings": [_finding(f, report.classes) for f in report.findings],
        "notes": list(report.notes),
    }
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def _quarantine(report: AttributionReport) -> list[dict[str, Any]]:
    """Rows to hold back before the retrain: the top rows of flagged sources, once each."""
    seen: dict[str, dict[str, Any]] = {}
    for f in report.findings:
        flagged = {s.source for s in f.flagged}
        for r in f.top_rows:
            if r.source in flagged and r.id not in seen:
                seen[r.id] = {"id": r.id, "source": r.source, "label": r.label}
    return sorted(seen.values(), key=lambda row: row["id"])


def write_quarantine(report: AttributionReport, folder: Path) -> dict[str, Path]:
    """quarantine.csv and attribution.json in `folder`; returns what was written, by kind."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {"csv": folder / QUARANTINE_CSV, "json": folder / QUARANTINE_JSON}
    write_text_atomic(written["csv"], quarantine_csv(report))
    write_text_atomic(written["json"], attribution_json(report))
    return written
