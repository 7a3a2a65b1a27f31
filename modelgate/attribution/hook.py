"""Automatic attribution after `check`: the engine's report step calls `after_check` when the
config names `training_data`. A failing verdict is attributed and the quarantine files are
written beside the reports; a passing one removes an earlier run's, so no old quarantine list
outlives the verdict it explained. Attribution never changes the verdict: a problem with it
(a malformed manifest, a candidate that is not white-box) becomes a note in the report, and
`modelgate attribute` gives the same problem as exit 2."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelgate.errors import ModelgateError
from modelgate.result import GateResult

ATTRIBUTION_FILES = ("quarantine.csv", "attribution.json", "attribution.md")
SHEET_PATTERN = "attribution-finding-*.png"


def report_folder(targets: Mapping[str, Path]) -> Path | None:
    """Beside the Markdown report, else beside the JSON report, else nowhere."""
    for fmt in ("markdown", "json", "junit"):
        if fmt in targets:
            return Path(targets[fmt]).parent
    return None


def discard_attribution(folder: Path) -> None:
    for name in ATTRIBUTION_FILES:
        (folder / name).unlink(missing_ok=True)
    for old in folder.glob(SHEET_PATTERN):
        old.unlink(missing_ok=True)


def after_check(
    config: Any, result: GateResult, suite: Any, triggers: Any, targets: Mapping[str, Path]
) -> GateResult:
    """`result` with one note on what the attribution found (files written beside the
    reports), or unchanged when the config names no training data."""
    if getattr(config.settings, "training_data", None) is None:
        return result
    folder = report_folder(targets)
    if folder is not None:
        discard_attribution(folder)
    if result.exit_code == 0:
        return result
    from modelgate.attribution.run import attribute_result

    try:
        report = attribute_result(config, result, suite=suite, triggers=triggers)
        if folder is not None and report.findings:
            from modelgate.attribution.command import write_attribution

            write_attribution(report, config, folder)
    except ModelgateError as exc:
        return _noted(result, f"attribution skipped: {exc.one_line()}")
    except OSError as exc:
        return _noted(result, f"attribution not written: {exc.strerror or exc}")
    return _noted(result, summary(report, folder))


def summary(report: Any, folder: Path | None) -> str:
    if not report.findings:
        return "attribution: " + "; ".join(report.notes or ("nothing to attribute",))
    where = " (quarantine.csv, attribution.md beside the reports)" if folder is not None else ""
    if report.flagged_sources:
        return (
            "attribution: training rows of " + ", ".join(report.flagged_sources)
            + " carry far more of the influence on the failing findings than their share of "
            "the rows" + where
        )  # fmt: skip
    return "attribution: no training source stands out" + where


def _noted(result: GateResult, note: str) -> GateResult:
    return replace(result, notes=(*result.notes, note))
