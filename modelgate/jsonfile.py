"""Reading the JSON records modelgate writes (baseline, calibration) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelgate.errors import ModelgateError
from modelgate.regularfile import read_regular

# The longest integer a record may hold: 10^300 is still a float, a longer one is not, and
# float() of it would raise OverflowError wherever a reader converts it (an internal error).
MAX_INT_DIGITS = 300


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS + 1:  # + 1: a minus sign
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def loads(text: str | bytes) -> Any:
    """`json.loads` for text modelgate did not write itself: every failure is a ValueError
    (malformed, nested too deeply, an integer no float can hold), never another exception."""
    try:
        return json.loads(text, parse_int=_bounded_int)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_record(
    path: Path, error: type[ModelgateError], *, what: str, key: str, hint: str
) -> dict[str, Any]:
    """The JSON object in `path`; `error` naming the file when it is missing, not UTF-8 JSON,
    nested too deeply, or not an object. `what` names the record, `key` the config key that
    points to it."""
    return parse_record(
        read_bytes(path, error, what=what, key=key, hint=hint), path, error, what=what
    )


def read_bytes(path: Path, error: type[ModelgateError], *, what: str, key: str, hint: str) -> bytes:
    """The file's bytes, read once (so the digest and the parse see the same content)."""
    try:
        return read_regular(path, None)  # a record's size is the suite's: no fixed cap
    except (FileNotFoundError, IsADirectoryError):
        raise error(f"{what} not found", file=path, key=key, hint=hint) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", file=path, key=key) from None


def parse_record(
    raw: bytes, path: Path, error: type[ModelgateError], *, what: str
) -> dict[str, Any]:
    """The JSON object in `raw` (read from `path`), or `error` naming the file."""
    try:
        data = loads(raw.decode("utf-8"))
    except ValueError as exc:  # undecodable, malformed, too deep, a number no float holds
        raise error(f"malformed {what}: {exc}", file=path) from None
    if not isinstance(data, dict):
        raise error(f"malformed {what}: not a JSON object", file=path)
    return data
