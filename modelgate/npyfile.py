"""Reading .npy files from untrusted hands: the header's claims are checked before numpy
allocates what it declares (a 100-byte file can declare a 745 GiB array)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import IO

import numpy as np


def _declared_bytes(handle: IO[bytes]) -> int:
    """The data size the .npy header at `handle` declares; ValueError for what numpy would
    refuse or could not read safely (object arrays, an unknown version)."""
    from numpy.lib import format as npy

    version = npy.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = npy.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = npy.read_array_header_2_0(handle)
    else:
        raise ValueError(f".npy format version {version} is not read (1.0 and 2.0 are)")
    if dtype.hasobject:
        raise ValueError("an array of Python objects (never unpickled)")
    return dtype.itemsize * math.prod(shape)


def load_npy_bytes(data: bytes) -> np.ndarray:
    """`np.load` of .npy bytes, refusing (ValueError) a header that declares more data than
    the bytes hold."""
    handle = io.BytesIO(data)
    declared = _declared_bytes(handle)
    if declared > len(data) - handle.tell():
        raise ValueError(
            f"its header declares {declared} bytes of data, the file holds "
            f"{len(data) - handle.tell()}"
        )
    return np.load(io.BytesIO(data), allow_pickle=False)


def load_npy_file(path: Path) -> np.ndarray:
    """`np.load` of a .npy file, refusing (ValueError) a header that declares more data than
    the file holds."""
    with path.open("rb") as handle:
        declared = _declared_bytes(handle)
        held = path.stat().st_size - handle.tell()
    if declared > held:
        raise ValueError(f"its header declares {declared} bytes of data, the file holds {held}")
    return np.load(path, allow_pickle=False)
