"""Paths named by untrusted text (a config, a flag, a pull request), made absolute safely."""

from __future__ import annotations

import os
from pathlib import Path


def resolved(path: str | Path) -> Path:
    """`path` absolute with its symlinks followed; a symlink loop or a name too long (where
    `Path.resolve` raises) gives the plain absolute path, and reading it then names the
    problem as an error on that file."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))


def plain_file_name(name: str) -> bool:
    """Whether a record's `name` is a file beside it: no folder, not blank, not `.` or `..`,
    no NUL byte (each would make `Path.with_name` raise or leave the folder)."""
    return (
        bool(name.strip())
        and name not in {".", ".."}
        and "\x00" not in name
        and Path(name).name == name
    )
