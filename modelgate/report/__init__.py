"""Report formats: each renders the same GateResult to text; this module writes them as a set.

Only the standard library is imported here (no torch, no numpy), so rendering a stored result
and `modelgate --help` start instantly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from modelgate.atomic import StagedFile
from modelgate.paths import resolved
from modelgate.report import json as json_report
from modelgate.report import junit, markdown
from modelgate.result import GateResult

Renderer = Callable[[GateResult], str]

FORMATS: dict[str, Renderer] = {
    "json": json_report.render,
    "junit": junit.render,
    "markdown": markdown.render,
}

DEFAULT_FILENAMES: dict[str, str] = {
    "json": "modelgate-report.json",
    "junit": "modelgate-junit.xml",
    "markdown": "modelgate-report.md",
}


def write_reports(result: GateResult, targets: Mapping[str, Path]) -> dict[str, Path]:
    """Render every requested format into a file beside its target, then put them all in
    place (each atomically); returns format -> path.

    Rendering all of them before replacing any means a renderer bug leaves the previous report
    set untouched rather than a new JSON next to a stale JUnit file.
    """
    _check_formats(targets)
    paths = {name: Path(path) for name, path in targets.items()}
    resolved_paths = [resolved(p) for p in paths.values()]
    if len(set(resolved_paths)) != len(resolved_paths):
        raise ValueError(f"two report formats share one path: {sorted(map(str, paths.values()))}")
    staged: list[StagedFile] = []
    try:
        for name, path in paths.items():
            staged.append(StagedFile(path))
            for part in STREAMED.get(name, _whole(FORMATS[name]))(result):
                staged[-1].write(part)
    except BaseException:
        for file in staged:
            file.discard()
        raise
    for file in staged:
        file.commit()
    return paths


def _whole(render: Renderer) -> Callable[[GateResult], Iterable[str]]:
    return lambda result: (render(result),)


# Formats rendered in parts, so that a million flips stream to disk.
STREAMED: dict[str, Callable[[GateResult], Iterable[str]]] = {"json": json_report.render_parts}


PICTURES_FOLDER = "modelgate-pictures"  # next to the Markdown report, which links them
PICTURE_PATTERNS = ("trigger-class-*.png", "probe-class-*.png")


def pictures_dir(targets: Mapping[str, Path]) -> Path | None:
    """Where trigger pictures go: beside the Markdown report, or nowhere without one."""
    return Path(targets["markdown"]).parent / PICTURES_FOLDER if "markdown" in targets else None


def discard_pictures(folder: Path) -> None:
    """Remove the pictures an earlier run wrote into `folder` (only modelgate's own names)."""
    for pattern in PICTURE_PATTERNS:
        for old in folder.glob(pattern):
            old.unlink(missing_ok=True)


def discard_reports(targets: Mapping[str, Path]) -> None:
    """Remove an earlier run's report set from these paths.

    A run that could not decide (exit 2) writes no report; without this, the previous run's
    verdict would sit where CI, the JUnit reader and the uploaded artifact look for this one's.
    """
    for path in targets.values():
        # A path that is a folder, or lies under a file, holds no report: nothing to remove.
        with contextlib.suppress(OSError):
            if Path(path).is_file() or (Path(path).is_symlink() and not Path(path).exists()):
                Path(path).unlink()  # never a device, FIFO or socket a user named by mistake
    folder = pictures_dir(targets)
    with contextlib.suppress(OSError):
        if folder is not None and folder.is_dir():
            discard_pictures(folder)


def _check_formats(names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(FORMATS))
    if unknown:
        known = ", ".join(FORMATS)
        raise ValueError(f"unknown report format(s): {', '.join(unknown)} (known: {known})")
