"""Reading a file a user or a pull request named: a regular file only, and bounded.

One reader for every small input (config, waivers, keys, signatures, word lists, records): a
FIFO named where a file belongs would block the run forever, `/dev/zero` would never stop, and a
huge file would cost memory the gate never needs. The check is made on the opened descriptor,
so a path swapped between a check and the open cannot slip past it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def read_regular(path: Path, limit: int | None) -> bytes:
    """The bytes of `path` (a regular file, or a link to one) of at most `limit` bytes.

    Raises OSError: FileNotFoundError, IsADirectoryError, or one whose `strerror` says why
    ("not a regular file (a FIFO, device or socket)", "larger than 16 MiB")."""
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer that never comes.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except ValueError:  # a NUL byte in a name from a record or a config: no file has it
        raise FileNotFoundError(errno.ENOENT, "a file name with a NUL byte", str(path)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "a folder, not a file", str(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, device or socket)", str(path))
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read() if limit is None else handle.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise OSError(errno.EFBIG, f"larger than {_size(limit)}", str(path))
    return raw


def _size(limit: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if limit >= 1 << shift and limit % (1 << shift) == 0:
            return f"{limit >> shift} {unit}"
    return f"{limit:,} bytes"
