"""Waivers: reviewed explanations of expected flips, with an approver and an expiry.

A flip matched by an unexpired waiver is explained and does not count against the gate;
expired and unused waivers are reported so the file does not rot (as syrupy does for snapshots).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import yaml
from pydantic import Field, model_validator

from modelgate.errors import WaiverError
from modelgate.result import WaiverState, WaiverUse
from modelgate.validation import StrictModel, validate_mapping
from modelgate.yamlfile import load_yaml, parse_yaml, read_yaml_text


class WaiverEntry(StrictModel):
    canary: str | None = Field(None, description="Canary id the waiver explains.")
    tag: str | None = Field(None, description="Or: every canary with this tag.")
    to: str = Field(description="The new label the flip is expected to have.")
    reason: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)
    expires: Union[dt.date, None] = None  # noqa: UP007

    @model_validator(mode="after")
    def _one_target(self) -> WaiverEntry:
        if (self.canary is None) == (self.tag is None):
            raise ValueError("give exactly one of `canary` or `tag`")
        return self


class WaiverFile(StrictModel):
    version: int = Field(1, ge=1, le=1)
    waivers: list[WaiverEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class Waivers:
    entries: tuple[WaiverEntry, ...]
    lines: tuple[int | None, ...]
    path: Path | None


@dataclass(frozen=True)
class WaiverMatch:
    explained: np.ndarray  # bool per canary
    notes: dict[int, str]  # canary index -> "reason (approved_by)"
    uses: tuple[WaiverUse, ...]


def load_waivers(
    path: Path | None, classes: Sequence[str], *, ids: Sequence[str] | None = None
) -> Waivers:
    """Read and validate a waivers file; with the suite's `ids`, a waiver for a canary that is
    not in the suite is refused (it can explain nothing, and usually names the wrong id)."""
    if path is None:
        return Waivers(entries=(), lines=(), path=None)
    located = load_yaml(path, WaiverError, what="waivers file")
    if located.data is None:
        return Waivers(entries=(), lines=(), path=path)
    parsed: WaiverFile = validate_mapping(located, WaiverFile, WaiverError)
    known = set(ids) if ids is not None else None
    for n, entry in enumerate(parsed.waivers):
        if known is not None and entry.canary is not None and entry.canary not in known:
            raise WaiverError(
                f"canary {entry.canary!r} is not in the suite",
                file=path,
                key=f"waivers.{n}.canary",
                line=located.line_of(f"waivers.{n}.canary"),
                hint="remove the waiver, or fix the canary id",
            )
        if entry.to not in classes:
            raise WaiverError(
                f"label {entry.to!r} is not one of the suite's classes",
                file=path,
                key=f"waivers.{n}.to",
                line=located.line_of(f"waivers.{n}.to"),
            )
    lines = tuple(located.line_of(f"waivers.{n}") for n in range(len(parsed.waivers)))
    return Waivers(entries=tuple(parsed.waivers), lines=lines, path=path)


def match_waivers(
    waivers: Waivers,
    ids: Sequence[str],
    tags: Sequence[tuple[str, ...]],
    candidate_labels: Sequence[str],
    flipped: np.ndarray,
    today: dt.date,
) -> WaiverMatch:
    """Which flips each waiver explains; a waiver applies only to a flip to its `to` label."""
    explained = np.zeros(len(ids), dtype=bool)
    notes: dict[int, str] = {}
    uses = []
    # Built only when a waiver names a canary: a million-entry map costs a second and 60 MB.
    needs_position = any(entry.canary is not None for entry in waivers.entries)
    position = {canary_id: i for i, canary_id in enumerate(ids)} if needs_position else {}
    flipped_idx = np.flatnonzero(flipped)
    for entry, line in zip(waivers.entries, waivers.lines):
        expired = entry.expires is not None and entry.expires < today
        if entry.canary is not None:
            i = position.get(entry.canary)
            targets = [i] if i is not None and flipped[i] else []
        else:
            targets = [int(i) for i in flipped_idx if entry.tag in tags[int(i)]]
        hits = [i for i in targets if candidate_labels[i] == entry.to]
        if not expired:
            for i in hits:
                explained[i] = True
                notes.setdefault(i, f"{entry.reason} ({entry.approved_by})")
        state = "expired" if expired else ("used" if hits else "unused")
        uses.append(
            WaiverUse(
                target=entry.canary if entry.canary is not None else f"tag:{entry.tag}",
                to=entry.to,
                reason=entry.reason,
                approved_by=entry.approved_by,
                expires=entry.expires.isoformat() if entry.expires else None,
                state=WaiverState(state),
                line=line,
            )
        )
    uses.sort(key=lambda u: (u.state, u.target, u.to))
    return WaiverMatch(explained=explained, notes=notes, uses=tuple(uses))


_EMPTY_LIST = re.compile(r"^waivers:[ \t]*\[\][ \t]*(#[^\r\n]*)?(?=\r?$)", re.MULTILINE)


def append_waiver(path: Path, entry: WaiverEntry) -> None:
    """Append one waiver, keeping the file's comments and layout (text append, not rewrite)."""
    from modelgate.atomic import write_text_atomic

    # A symlink loop or a dangling link is read (and refused), never written over.
    present = path.exists() or path.is_symlink()
    existing = read_yaml_text(path, WaiverError, what="waivers file") if present else ""
    if not existing.strip():
        existing = "version: 1\nwaivers:\n"
    elif "waivers:" not in existing:
        raise WaiverError("has no `waivers:` list to append to", file=path, key="waivers")
    # Python mode: the expiry stays a date, which YAML writes unquoted and reads back as a date
    # (JSON mode would write the string '2027-01-31', which the strict schema refuses).
    item = entry.model_dump(mode="python", exclude_none=True)
    block = yaml.safe_dump([item], sort_keys=False, allow_unicode=True)
    # A Windows-edited file keeps its line ends: one style in the file, a clean diff.
    newline = "\r\n" if "\r\n" in existing else "\n"
    text = existing if existing.endswith("\n") else existing + newline
    # Only the top-level `waivers: []` line opens up: a comment that quotes it stays as written.
    text = _EMPTY_LIST.sub(lambda m: "waivers:" + (f"  {m[1]}" if m[1] else ""), text, count=1)
    indented = "".join("  " + line if line.strip() else line for line in block.splitlines(True))
    new_text = text + indented.replace("\n", newline)
    try:  # check before writing: a waivers file `check` cannot read back is never left behind
        located = parse_yaml(new_text, path, WaiverError, what="waivers file")
        parsed: WaiverFile = validate_mapping(located, WaiverFile, WaiverError)
        ok = bool(parsed.waivers) and parsed.waivers[-1] == entry
    except WaiverError:
        ok = False
    if not ok:
        raise WaiverError(
            "cannot append: its `waivers:` list must be the last block in block style",
            file=path,
            key="waivers",
        )
    write_text_atomic(path, new_text)
