"""Where a run's reports go, checked before the run and known even when the config is broken.

An undecided run must remove the earlier run's reports at every path it would have written, so
CI never reads an old verdict as this one's. When the config itself cannot be loaded, the paths
are read from it as far as it parses (`output.dir`, `output.formats`), else the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from modelgate.errors import ConfigError, OutputError
from modelgate.paths import resolved
from modelgate.report import DEFAULT_FILENAMES, FORMATS

DEFAULT_DIR = "modelgate-report"
EXPLICIT_KEYS = {"json": "--json", "junit": "--junit-xml", "markdown": "--markdown"}


@dataclass(frozen=True)
class Plan:
    """Report paths, and the option or config key that put each there (for error messages)."""

    targets: dict[str, Path]
    keys: dict[str, str]


def plan_targets(
    folder: Path | None, formats: tuple[str, ...], explicit: dict[str, str | None]
) -> Plan:
    """The folder's default file per format (none when `folder` is None), then explicit paths."""
    targets: dict[str, Path] = {}
    keys: dict[str, str] = {}
    if folder is not None:
        for fmt in formats:
            if fmt in DEFAULT_FILENAMES:
                targets[fmt] = folder / DEFAULT_FILENAMES[fmt]
                keys[fmt] = "output.dir"
    for fmt, value in explicit.items():
        if value:
            targets[fmt] = Path(value)
            keys[fmt] = EXPLICIT_KEYS[fmt]
    return Plan(targets, keys)


def guess_output(config_arg: str | Path) -> tuple[Path, tuple[str, ...]]:
    """`output.dir` (resolved) and `output.formats` of a config that may not load: as far as
    the file parses, else the defaults beside it."""
    from modelgate.yamlfile import load_yaml

    path = Path(config_arg)
    formats: tuple[str, ...] = tuple(FORMATS)
    try:
        if path.is_dir():
            path = path / "modelgate.yaml"
        folder = resolved(path).parent
    except (OSError, RuntimeError, ValueError):
        return Path(DEFAULT_DIR), formats
    out_dir = folder / DEFAULT_DIR
    try:
        data = load_yaml(path, ConfigError, what="config file").data
    except (ConfigError, OSError, ValueError):
        scanned = _scan_output_dir(path)  # a config that does not parse still names its folder
        return (folder / scanned if scanned else out_dir), formats
    output = data.get("output") if isinstance(data, dict) else None
    if isinstance(output, dict):
        if isinstance(output.get("dir"), str) and output["dir"]:
            out_dir = folder / output["dir"]
        listed = output.get("formats")
        if isinstance(listed, list) and all(isinstance(f, str) for f in listed):
            formats = tuple(f for f in listed if f in FORMATS)
    return out_dir, formats


_FLOW_DIR = re.compile(r"""^output:\s*\{[^}\n]*?\bdir:\s*("[^"\n]*"|'[^'\n]*'|[^,}\s#]+)""", re.M)
_BLOCK = re.compile(r"^output:[ \t]*(?:#[^\n]*)?\n((?:[ \t]+[^\n]*\n?|[ \t]*\n)*)", re.M)
_BLOCK_DIR = re.compile(r"""^[ \t]+dir:[ \t]*("[^"\n]*"|'[^'\n]*'|[^\s#]+)""", re.M)


def _scan_output_dir(path: Path) -> str | None:
    """`output.dir` read line by line from a config YAML refuses (a bad tag, an unclosed
    bracket, too many nodes), so an undecided run still removes the reports an earlier run left
    there; used for nothing else."""
    from modelgate.regularfile import read_regular
    from modelgate.yamlfile import MAX_BYTES

    try:
        text = read_regular(path, MAX_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    text = text.replace("\r\n", "\n")
    found = _FLOW_DIR.search(text)
    if found is None:
        block = _BLOCK.search(text)
        found = _BLOCK_DIR.search(block.group(1)) if block else None
    value = found.group(1).strip("'\"") if found else ""
    return value if value.strip() and "\x00" not in value else None


def check_targets(plan: Plan) -> None:
    """Refuse, before any model runs, a report path that cannot be written: a folder where the
    file goes, or a file where a folder must be."""
    for fmt, path in plan.targets.items():
        key = plan.keys.get(fmt)
        if path.is_dir():
            raise OutputError(f"the {fmt} report path is a folder", file=path, key=key)
        if path.exists() and not path.is_file():
            raise OutputError(
                f"the {fmt} report path is a device, FIFO or socket, which a report would replace",
                file=path,
                key=key,
                hint="point the report at a regular file",
            )
        for parent in path.parents:
            if parent.is_dir():
                break
            if parent.exists() or parent.is_symlink():
                raise OutputError(
                    f"is not a folder, so the {fmt} report cannot be written inside it",
                    file=parent,
                    key=key,
                    hint="move that file aside, or point the reports elsewhere",
                )


def failed_target(plan: Plan, filename: object) -> tuple[Path | None, str | None]:
    """The report path and its option behind an OSError's `filename`: a write fails on the
    hidden temporary file beside its target (`atomic.py`), which the user never named."""
    if isinstance(filename, str | Path):
        failed = Path(filename)
        for fmt, path in plan.targets.items():
            staged = failed.parent == path.parent and failed.name.startswith(f".{path.name}.")
            if failed == path or staged or failed in path.parents:
                return path, plan.keys.get(fmt)
    first = next(iter(plan.targets), None)
    if first is None:
        return None, None
    return plan.targets[first], plan.keys.get(first)


def discard(targets: dict[str, Path]) -> None:
    """Remove an earlier run's reports (never failing: a path may be unusable)."""
    from modelgate.report import discard_reports

    discard_reports(targets)
