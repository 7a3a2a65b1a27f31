"""Pages of a memory-mapped suite handed back once read: streaming that really bounds memory.

A memory-mapped `.npy` keeps every page it touched in the process's resident set until the
mapping goes, so one pass over a million 8x8 canaries holds the whole 256 MB file, and the
statistics after inference pile on top of it. The suite is mapped read-only from a file, so
dropping its pages loses nothing: reading them again faults them back from the page cache (or
the file). Only the resident set changes, never a value read.
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np

_PAGE = mmap.PAGESIZE


class PageReleaser:
    """Drops the pages of a read-only memory-mapped array's leading rows, as they are read."""

    def __init__(self, array: Any) -> None:
        self._mm: mmap.mmap | None = None
        mm = getattr(array, "_mmap", None)  # numpy.memmap's own mapping
        if (
            isinstance(array, np.memmap)
            and array.mode == "r"  # shared and read-only: nothing in it can be lost
            and isinstance(mm, mmap.mmap)
            and hasattr(mm, "madvise")
            and hasattr(mmap, "MADV_DONTNEED")
            and array.flags.c_contiguous
            and array.ndim > 0
            and array.size > 0
        ):
            self._mm = mm
            self._base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
            self._start = array.ctypes.data - self._base  # the array's first byte in the map
            self._done = self._start - self._start % _PAGE  # released up to here
            self._row = array.strides[0]

    def release(self, rows: int) -> None:
        """Drop the whole pages of the array's first `rows` rows (those not dropped yet)."""
        if self._mm is None:
            return
        end = min(self._start + rows * self._row, len(self._mm))
        end -= end % _PAGE
        if end > self._done:
            try:
                self._mm.madvise(mmap.MADV_DONTNEED, self._done, end - self._done)
            except OSError:  # an advice is only advice: never fail a run over it
                self._mm = None
                return
            self._done = end
