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
    or not an object. `what` names the record, `key` the config key that points to it."""
    if not path.is_file():
        raise error(f"{what} not found", file=path, key=key, hint=hint)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"malformed {what}: {exc}", file=path) from None
    if not isinstance(data, dict):
        raise error(f"malformed {what}: not a JSON object", file=path)
    return data
