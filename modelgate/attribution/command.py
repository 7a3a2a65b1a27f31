"""`modelgate attribute`: its arguments and its run function (cli.py only registers it).

Exit codes as `check`: 0 no source stands out (or nothing failed), 1 a source carries far more
influence than its rows predict (quarantine it), 2 could not decide (bad manifest, a candidate
that is not white-box, ...). Heavy imports stay inside `run` so `--help` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HELP = "attribute the failing findings to training rows and to the sources that supplied them"


def add_attribute_command(
    add: Callable[..., argparse.ArgumentParser], handler: Callable[[argparse.Namespace], int]
) -> None:
    """Register `attribute` with cli.py's `add(name, handler, help)` helper; `handler` (cli's)
    calls `run_attribute` with the engine's `attribute_check`, since only front ends import
    the engine."""
    sub = add("attribute", handler, HELP)
    sub.add_argument(
        "--candidate",
        metavar="PATH",
        help="model file to use instead of candidate.path (relative to the current folder)",
    )
    sub.add_argument("--finding", metavar="CHECK", help="attribute only this check's findings")
    sub.add_argument("--json", metavar="PATH", help="also write the attribution JSON here")
    sub.add_argument(
        "--all-flips",
        action="store_true",
        help="attribute every unexplained flip even when the check passes (what clean churn "
        "looks like to the per-source test)",
    )
    sub.add_argument(
        "--output-dir", help="folder for quarantine.csv, attribution.json, attribution.md "
        "and contact sheets (default: output.dir of the config)",
    )  # fmt: skip


def run_attribute(args: argparse.Namespace, attribute_check: Callable[..., Any]) -> int:
    """The command: check, attribute, write the quarantine files, print; the exit code."""
    from modelgate.attribution.quarantine import attribution_json
    from modelgate.config import load_config, with_candidate_path
    from modelgate.errors import ModelLoadError, OutputError
    from modelgate.report.escape import terminal_text

    config = load_config(args.config)
    if args.candidate:
        config = with_candidate_path(config, args.candidate)
    result, report = attribute_check(config, only=args.finding, all_flips=args.all_flips)
    if report.not_white_box:
        raise ModelLoadError(report.not_white_box, file=config.path, key="candidate")
    folder = Path(args.output_dir or config.resolve(config.settings.output.dir))
    try:
        written = write_attribution(report, config, folder)
        if args.json:
            from modelgate.atomic import write_text_atomic

            write_text_atomic(Path(args.json), attribution_json(report))
            written["--json"] = Path(args.json)
    except OSError as exc:
        raise OutputError(
            f"cannot write the attribution: {exc.strerror or exc}", file=exc.filename or folder
        ) from None
    out = sys.stdout
    if out is not None:
        for line in console_lines(result, report):
            print(terminal_text(line), file=out)
    if sys.stderr is not None:
        for kind, path in sorted(written.items()):
            print(terminal_text(f"{kind}: {path}"), file=sys.stderr)
    return report.exit_code


def write_attribution(report: Any, config: Any, folder: Path) -> dict[str, Path]:
    """quarantine.csv, attribution.json, attribution.md and contact sheets in `folder`."""
    from modelgate.attribution.quarantine import write_quarantine

    written = write_quarantine(report, folder)
    written["markdown"] = _write_markdown(report, config, folder)
    return written


def _write_markdown(report: Any, config: Any, folder: Path) -> Path:
    from modelgate.atomic import write_text_atomic
    from modelgate.attribution.manifest import load_training_data
    from modelgate.attribution.run import training_spec
    from modelgate.attribution.sheets import contact_sheets
    from modelgate.report.attribution import markdown_section
    from modelgate.suite.format import load_suite

    sheets: dict[int, str] = {}
    if report.findings:
        suite = load_suite(config.suite_path)
        data = load_training_data(
            config.resolve(training_spec(config).path),
            suite.classes,
            input_like=suite.manifest.input,
        )
        sheets = contact_sheets(report, data, folder)
    path = folder / "attribution.md"
    write_text_atomic(path, markdown_section(report, sheets))
    return path


def console_lines(result: Any, report: Any) -> list[str]:
    from modelgate.report.attribution import headline

    failing = [c.name for c in result.checks if c.status.value == "failed"]
    lines = [
        f"modelgate attribute: check {result.verdict.value}"
        + (f" ({', '.join(failing)})" if failing else "")
        + f"; {len(report.findings)} finding(s) attributed"
        + (f"; flagged: {', '.join(report.flagged_sources)}" if report.flagged_sources else
           "; no source flagged")
    ]  # fmt: skip
    for f in report.findings:
        lines.append(f"{f.behaviour.check}: {headline(f)}")
        for r in f.top_rows[:5]:
            lines.append(f"  #{r.rank} {r.id} (label {r.label}, source {r.source}) {r.share:.1%}")
    if report.budget:
        b = report.budget
        lines.append(
            f"budget: {b.rows_scored}/{b.rows_total} rows, <= {b.max_canaries} canaries per "
            f"finding, {b.permutations} permutations ({b.method})"
        )
    lines += [f"note: {n}" for n in report.notes]
    return lines
