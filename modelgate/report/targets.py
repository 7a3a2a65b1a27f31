"""Where a run's reports go, checked before the run and known even when the config is broken.

An undecided run must remove the earlier run's reports at every path it would have written, so
CI never reads an old verdict as this one's. When the config itself cannot be loaded, the paths
are read from it as far as it parses (`output.dir`, `output.formats`), else the defaults.
"""

from __future__ import annotations

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
        return out_dir, formats
    output = data.get("output") if isinstance(data, dict) else None
    if isinstance(output, dict):
        if isinstance(output.get("dir"), str) and output["dir"]:
            out_dir = folder / output["dir"]
        listed = output.get("formats")
        if isinstance(listed, list) and all(isinstance(f, str) for f in listed):
            formats = tuple(f for f in listed if f in FORMATS)
    return out_dir, formats


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
