"""Frames between modelgate and a sandboxed model: a JSON header, then raw numeric arrays.

Never pickle: the other end runs untrusted code, so everything read from it is parsed as plain
JSON and numbers of a whitelisted dtype, with every length bounded before it is read.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import IO, Any

from modelgate.jsonfile import loads

MAX_HEADER = 16 << 20  # a header carries texts (a batch of canaries) or a vocabulary
MAX_ARRAYS = 1 << 31  # 2 GiB of array bytes in one frame at most
DTYPES = frozenset({"float16", "float32", "float64", "int32", "int64", "uint8", "bool"})
_LEN = struct.Struct("<Q")


class WireError(Exception):
    """The other end sent something that is not a well-formed frame (or nothing at all)."""


class FrameTooLarge(WireError):
    """A frame announcing more array bytes than the reader allows (the excess is not read)."""


def write_frame(out: IO[bytes], header: dict[str, Any], arrays: Sequence[Any] = ()) -> None:
    blobs = []
    shapes = []
    for array in arrays:
        blob = array.tobytes(order="C")
        shapes.append({"dtype": str(array.dtype), "shape": list(array.shape), "n": len(blob)})
        blobs.append(blob)
    text = json.dumps({**header, "arrays": shapes}, separators=(",", ":")).encode("utf-8")
    out.write(_LEN.pack(len(text)))
    out.write(text)
    for blob in blobs:
        out.write(blob)
    out.flush()


def _read_exactly(inp: IO[bytes], n: int) -> bytes:
    chunks = []
    left = n
    while left:
        chunk = inp.read(min(left, 1 << 24))
        if not chunk:
            raise WireError("the other end closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_header(inp: IO[bytes]) -> dict[str, Any]:
    (length,) = _LEN.unpack(_read_exactly(inp, _LEN.size))
    if length > MAX_HEADER:
        raise WireError(f"a frame header of {length} bytes")
    try:
        header = loads(_read_exactly(inp, length).decode("utf-8"))
    except ValueError as exc:
        raise WireError(f"a frame header that is not JSON ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise WireError("a frame header that is not an object")
    return header


def read_frame(inp: IO[bytes], limit: int = MAX_ARRAYS) -> tuple[dict[str, Any], list[Any]]:
    """(header, arrays); the arrays are numpy arrays of whitelisted dtypes only, `limit` bytes
    in all at most (each array's size is checked before it is read)."""
    import numpy as np

    header = read_header(inp)
    arrays = []
    total = 0
    limit = min(limit, MAX_ARRAYS)
    for meta in header.get("arrays", []):
        try:
            dtype, shape, n = str(meta["dtype"]), [int(s) for s in meta["shape"]], int(meta["n"])
        except (KeyError, TypeError, ValueError):
            raise WireError("a malformed array description") from None
        if dtype not in DTYPES or any(s < 0 for s in shape) or len(shape) > 8:
            raise WireError(f"an array of dtype {dtype!r} and shape {shape}")
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        total += n
        if n != expected:
            raise WireError(f"an array of {n} bytes for shape {shape}")
        if total > limit:
            raise FrameTooLarge(f"arrays of {total} bytes or more (at most {limit})")
        data = bytearray(_read_exactly(inp, n))  # writable: torch.from_numpy needs no copy
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape))
    return header, arrays
