"""Reading the JSON records modelgate writes (baseline, calibration) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelgate.errors import ModelgateError


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
        if not path.is_file():
            raise error(f"{what} not found", file=path, key=key, hint=hint)
        return path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", file=path, key=key) from None


def parse_record(
    raw: bytes, path: Path, error: type[ModelgateError], *, what: str
) -> dict[str, Any]:
    """The JSON object in `raw` (read from `path`), or `error` naming the file."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(f"malformed {what}: {exc}", file=path) from None
    except json.JSONDecodeError as exc:
        raise error(f"malformed {what}: {exc}", file=path) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise error(f"malformed {what}: {exc}", file=path) from None
    except RecursionError:
        raise error(f"malformed {what}: nested too deeply", file=path) from None
    if not isinstance(data, dict):
        raise error(f"malformed {what}: not a JSON object", file=path)
    return data
