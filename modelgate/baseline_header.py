"""The header of a baseline record, typed: who was blessed, on which suite, when and why.

The record file stores it as a JSON mapping; this is the one place that maps between the two,
refusing fields of the wrong type (named `header.<key>`) before anything reads them. The blessed
model's probe and inversion results stay the probes layer's own mapping (`triggers`), read and
written by `modelgate.probes.record`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelgate.errors import BaselineError

TRIGGER_KEYS = ("probes", "inversion")


@dataclass(frozen=True)
class BlessedModel:
    path: str
    format: str
    sha256: str
    carries_code: bool
    ran: str = ""  # in-process, or the sandbox and its limits


@dataclass(frozen=True)
class SuiteRef:
    name: str
    version: int
    digest: str


@dataclass(frozen=True)
class BaselineHeader:
    """Everything a record says besides the canaries' predictions."""

    suite: SuiteRef
    model: BlessedModel
    blessed_at: str = ""
    config_sha256: str = ""
    git_commit: str | None = None
    modelgate_version: str = ""
    classes: tuple[str, ...] = ()
    forced: bool = False
    reason: str | None = None
    # The blessed model's trigger results ("probes", "inversion"), as `probes.record` wrote them.
    triggers: Mapping[str, Any] = field(default_factory=dict)

    def without_triggers(self) -> BaselineHeader:
        """The header with the blessed probe and inversion results left out."""
        return replace(self, triggers={})

    def to_json(self) -> dict[str, Any]:
        return {
            "blessed_at": self.blessed_at,
            "config_sha256": self.config_sha256,
            "git_commit": self.git_commit,
            "model": {
                "path": self.model.path,
                "format": self.model.format,
                "sha256": self.model.sha256,
                "carries_code": self.model.carries_code,
                "ran": self.model.ran,
            },
            "modelgate_version": self.modelgate_version,
            "suite": {
                "name": self.suite.name,
                "version": self.suite.version,
                "digest": self.suite.digest,
            },
            "classes": list(self.classes),
            "forced": self.forced,
            "reason": self.reason,
            **{key: self.triggers[key] for key in TRIGGER_KEYS if key in self.triggers},
        }


def parse_header(data: Mapping[str, Any], path: Path) -> BaselineHeader:
    """The typed header of a record's `header` mapping; a wrong field is a BaselineError."""
    suite = _mapping(data, "suite", path)
    model = _mapping(data, "model", path)
    return BaselineHeader(
        suite=SuiteRef(
            name=_text(suite, "name", path, "suite."),
            version=_integer(suite, "version", path, "suite."),
            digest=_text(suite, "digest", path, "suite."),
        ),
        model=BlessedModel(
            path=_text(model, "path", path, "model."),
            format=_text(model, "format", path, "model."),
            sha256=_text(model, "sha256", path, "model."),
            carries_code=_flag(model, "carries_code", path, "model."),
            ran=_text(model, "ran", path, "model."),
        ),
        blessed_at=_text(data, "blessed_at", path),
        config_sha256=_text(data, "config_sha256", path),
        git_commit=_text(data, "git_commit", path) or None,
        modelgate_version=_text(data, "modelgate_version", path),
        classes=tuple(str(c) for c in _list(data, "classes", path)),
        forced=_flag(data, "forced", path),
        reason=_text(data, "reason", path) or None,
        triggers={key: data[key] for key in TRIGGER_KEYS if key in data},
    )


def _fail(key: str, what: str, path: Path) -> BaselineError:
    return BaselineError(f"must be {what}", file=path, key=f"header.{key}")


def _mapping(data: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise _fail(key, "a mapping", path)
    return value


def _text(data: Mapping[str, Any], key: str, path: Path, prefix: str = "") -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(prefix + key, "text or null", path)
    return value


def _integer(data: Mapping[str, Any], key: str, path: Path, prefix: str = "") -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(prefix + key, "an integer", path)
    return value


def _flag(data: Mapping[str, Any], key: str, path: Path, prefix: str = "") -> bool:
    """A true/false field: a string "false" must not read as true."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise _fail(prefix + key, "true or false", path)
    return value


def _list(data: Mapping[str, Any], key: str, path: Path) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _fail(key, "a list", path)
    return value
