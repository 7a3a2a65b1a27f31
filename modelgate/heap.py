"""Freed memory kept for the next batch: glibc's allocator tuned so that the many same-sized
tensors and arrays of a long batched loop reuse pages instead of faulting in fresh ones.

By default glibc hands blocks above a (dynamic, at most 32 MB) threshold straight to the kernel
with mmap and returns them on free, so every batch of activations, stamped probes or churn
statistics over a million canaries faults its pages in again; on a virtual machine that costs
milliseconds per megabyte, more than the arithmetic. Raising the mmap and trim thresholds keeps
such blocks in the heap for reuse. Only the allocator's bookkeeping changes, never a number the
gate computes; where the C library is not glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
KEEP_BYTES = 256 * 2**20  # blocks up to this size come from (and return to) the heap
_tuned: list[bool] = []  # once per process


def keep_freed_memory() -> bool:
    """Tune the allocator once per process; True when it was (or already is) tuned."""
    if _tuned:
        return _tuned[0]
    ok = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = getattr(libc, "mallopt", None)
            if mallopt is not None:
                ok = bool(mallopt(_M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(
                    mallopt(_M_TRIM_THRESHOLD, KEEP_BYTES)
                )
        except OSError:  # another C library (musl): nothing to tune
            ok = False
    _tuned.append(ok)
    return ok
