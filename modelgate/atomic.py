"""Whole-file writes: readers see the old file or the new one, never half of one.

CI steps read reports the moment the gate exits, and a crash or a full disk mid-write must not
leave a truncated JSON that a later step trusts. The temporary file lives in the target folder
so that the final `os.replace` is a rename on one file system, which POSIX makes atomic.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path


def refuse_special(target: Path) -> None:
    """Raise OSError naming `target` if it exists and is not a regular file: replacing a
    device, a FIFO or a socket (or a link to one) with a file would destroy it."""
    try:
        mode = target.stat().st_mode
    except OSError:  # absent (or a dangling link): the write creates it
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a folder fails on its own
        message = "exists and is not a regular file (a device, FIFO or socket)"
        raise OSError(17, message, str(target))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o666) -> None:
    """Write `data` to `path` atomically, creating the folder if missing.

    `mode` (less the umask) is the file's from its creation: 0o600 keeps a secret unreadable
    by others even for a moment."""
    target = Path(path)
    refuse_special(target)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
    # os.open with 0o666 lets the umask decide the mode, as a plain open() would; mkstemp
    # would leave a 0600 report that other CI users cannot read.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(folder)


class StagedFile:
    """A file written in parts next to its target and put in place by `commit` (atomically,
    as `write_bytes_atomic`), or removed by `discard`: a large report streams to disk instead
    of being held in memory whole, and a set of them can be committed together."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.target = Path(path)
        refuse_special(self.target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.target.parent / f".{self.target.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        self._handle = os.fdopen(os.open(self._tmp, flags, 0o666), "wb")

    def write(self, text: str) -> None:
        self._handle.write(text.encode("utf-8"))

    def commit(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self._tmp, self.target)
        _fsync_folder(self.target.parent)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()
        with contextlib.suppress(OSError):
            self._tmp.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically; newlines are written as given."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself; a no-op where folders cannot be opened (Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
