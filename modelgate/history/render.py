"""Text and JSON for `modelgate history`; the CLI only prints what these return."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelgate.config import Config
from modelgate.history.config_ledger import open_config_ledger
from modelgate.history.ledger import Ledger, Run, RunKind
from modelgate.history.timeline import (
    CanaryPoint,
    LastGood,
    TagPoint,
    canary_timeline,
    tag_timeline,
)
from modelgate.report.escape import visible_text


@dataclass(frozen=True)
class Output:
    stdout: str
    notes: tuple[str, ...] = ()  # for stderr


def history_command(
    config: Config,
    *,
    canary: str | None = None,
    tag: str | None = None,
    find_last_good: Callable[[Ledger], LastGood] | None = None,
    plot: str | None = None,
    as_json: bool = False,
) -> Output:
    """Answer one `modelgate history` question from the ledger; `find_last_good` is the
    engine's search for the rollback target (`engine.rollback.last_good`), when asked."""
    with open_config_ledger(config, create=False) as ledger:
        notes: tuple[str, ...] = ()
        if plot:
            from modelgate.history.plot import write_plot

            notes = (f"plot: {write_plot(ledger, Path(plot))}",)
        if canary is not None:
            points = canary_timeline(ledger, canary)
            data: Any = {"canary": canary, "timeline": [_canary_dict(p) for p in points]}
            text = _canary_text(canary, points)
        elif tag is not None:
            tag_points = tag_timeline(ledger, tag)
            data = {"tag": tag, "timeline": [_tag_dict(p) for p in tag_points]}
            text = _tag_text(tag, tag_points)
        elif find_last_good is not None:
            found = find_last_good(ledger)
            data = _last_good_dict(found)
            text = _last_good_text(found)
        else:
            runs = ledger.runs()
            data = {"ledger": str(ledger.path), "runs": [run_dict(r) for r in runs]}
            text = _runs_text(ledger, runs)
    if as_json:
        return Output(json.dumps(data, indent=2, sort_keys=True) + "\n", notes)
    return Output(text, notes)


def run_dict(run: Run) -> dict[str, Any]:
    return {
        "accuracy": round(run.accuracy, 6),
        "baseline_model_sha256": run.baseline_model_sha256,
        "config_sha256": run.config_sha256,
        "git_commit": run.git_commit,
        "kind": run.kind.value,
        "metrics": run.metrics,
        "model": {"format": run.model_format, "path": run.model_path, "sha256": run.model_sha256},
        "run": run.run_id,
        "suite": {"digest": run.suite_digest, "name": run.suite_name, "version": run.suite_version},
        "time": run.time,
        "verdict": run.verdict,
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns; every cell on one visible line (ids and labels come from suites)."""
    cells = [[visible_text(c) for c in row] for row in (header, *rows)]
    widths = [max(len(c) for c in col) for col in zip(*cells)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in cells]  # fmt: skip
    return "\n".join(lines) + "\n"


def _run_cells(run: Run) -> list[str]:
    return [f"#{run.run_id}", run.kind.value, run.time, run.model_sha256[:12]]


def _runs_text(ledger: Ledger, runs: Sequence[Run]) -> str:
    if not runs:
        return f"no runs recorded yet in {ledger.path}\n"
    rows = [
        [*_run_cells(r), r.verdict, f"{r.accuracy:.2%}", Path(r.model_path).name,
         f"{r.suite_name} v{r.suite_version}", (r.git_commit or "-")[:10]]
        for r in runs
    ]  # fmt: skip
    header = ["run", "kind", "time", "model", "verdict", "accuracy", "file", "suite", "commit"]
    blessed = sum(r.kind is RunKind.BLESS for r in runs)
    return (
        _table(header, rows)
        + f"{len(runs)} runs ({blessed} blessings, {len(runs) - blessed} checks) in {ledger.path}\n"
    )


def _blessed_id(blessed: Run | None) -> int | None:
    return blessed.run_id if blessed is not None else None


def _canary_dict(p: CanaryPoint) -> dict[str, Any]:
    return {"blessed_run": _blessed_id(p.blessed), "flipped_from": p.flipped_from,
            "label": p.label, "margin": round(p.margin, 4), "pred": p.pred,
            **_brief(p.run)}  # fmt: skip


def _versus(blessed: Run | None) -> str:
    """Which blessed model a run was compared with, for a table cell."""
    return f"bless #{blessed.run_id}" if blessed is not None else "-"


def _brief(run: Run) -> dict[str, Any]:
    return {"kind": run.kind.value, "model_sha256": run.model_sha256, "run": run.run_id,
            "time": run.time, "verdict": run.verdict}  # fmt: skip


def _canary_text(canary: str, points: Sequence[CanaryPoint]) -> str:
    rows = [
        [*_run_cells(p.run), p.pred, f"{p.margin:+.3f}", _versus(p.blessed),
         f"flipped {p.flipped_from} -> {p.pred}" if p.flipped_from else ""]
        for p in points
    ]  # fmt: skip
    label = points[-1].label if points else "?"
    flips = sum(p.flipped_from is not None for p in points)
    head = (
        f"canary {visible_text(canary)} (label '{visible_text(label)}'): {len(points)} runs, "
        f"{flips} flip(s) against the "
        "blessed model each run was compared with\n"
    )
    return head + _table(["run", "kind", "time", "model", "pred", "margin", "vs", ""], rows)


def _tag_dict(p: TagPoint) -> dict[str, Any]:
    return {"blessed_run": _blessed_id(p.blessed), "correct": p.correct,
            "flipped": list(p.flipped), "n": p.n, **_brief(p.run)}  # fmt: skip


def _tag_text(tag: str, points: Sequence[TagPoint]) -> str:
    rows = [
        [*_run_cells(p.run), f"{p.correct}/{p.n}", _versus(p.blessed),
         (", ".join(p.flipped[:8]) + (f" +{len(p.flipped) - 8}" if len(p.flipped) > 8 else ""))
         if p.flipped else ""]
        for p in points
    ]  # fmt: skip
    head = f"tag {visible_text(tag)}: {len(points)} runs\n"
    return head + _table(
        ["run", "kind", "time", "model", "correct", "vs", "flipped against the blessed model"],
        rows,
    )


def _last_good_dict(found: LastGood) -> dict[str, Any]:
    return {
        "anchor": run_dict(found.anchor),
        "last_good": run_dict(found.good),
        "rejected": [{"failed": list(f), **_brief(r)} for r, f in found.rejected],
    }


def _last_good_text(found: LastGood) -> str:
    good = found.good
    lines = [
        f"last good: {good.name}: {good.model_path}",
        f"  passes the gate against the anchor {found.anchor.name}"
        if good is not found.anchor
        else "  (the anchor itself: every later blessing fails against it)",
    ]
    if found.rejected:
        lines.append("newer blessings that fail against the anchor:")
        lines += [f"  {r.name}: {', '.join(f)}" for r, f in found.rejected]
    return "\n".join(lines) + "\n"
