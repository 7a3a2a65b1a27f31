"""The blessed baseline record: what the production model did on every canary.

A JSON file laid out for diffs: the header pretty-printed, then one canary per line sorted by id,
so a pull request that re-blesses shows exactly which canaries changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelgate.atomic import write_text_atomic
from modelgate.errors import BaselineError
from modelgate.jsonfile import parse_record, read_bytes
from modelgate.predict import Predictions
from modelgate.suite.format import Suite

FORMAT_NAME = "modelgate-baseline"
FORMAT_VERSION = 1
_DECIMALS = 4


@dataclass(frozen=True)
class BaselineRecord:
    """A parsed baseline: header plus the blessed predictions in suite order."""

    path: Path
    sha256: str
    header: dict[str, Any]
    predictions: Predictions

    @property
    def suite_digest(self) -> str:
        return str(self.header["suite"]["digest"])


def render_baseline(suite: Suite, predictions: Predictions, header: dict[str, Any]) -> str:
    """The record's text: deterministic, one canary per line, sorted by canary id."""
    lines = ["{", f'  "format": "{FORMAT_NAME}",', f'  "format_version": {FORMAT_VERSION},']
    header_text = json.dumps(header, indent=2, sort_keys=True).replace("\n", "\n  ")
    lines.append(f'  "header": {header_text},')
    lines.append('  "canaries": [')
    order = sorted(range(len(suite)), key=lambda i: suite.ids[i])
    rounded = np.round(predictions.log_probs.astype(np.float64), _DECIMALS)
    margins = np.round(predictions.margins(suite.labels).astype(np.float64), _DECIMALS)
    classes = suite.classes
    rows = []
    for i in order:
        row = {
            "id": suite.ids[i],
            "label": classes[suite.labels[i]],
            "pred": classes[predictions.labels[i]],
            "margin": float(margins[i]) + 0.0,  # + 0.0 turns -0.0 into 0.0
            "logp": [float(x) + 0.0 for x in rounded[i]],
        }
        rows.append("    " + json.dumps(row, separators=(", ", ": ")))
    lines.append(",\n".join(rows))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_baseline(
    path: Path, suite: Suite, predictions: Predictions, header: dict[str, Any]
) -> None:
    write_text_atomic(path, render_baseline(suite, predictions, header))


def read_baseline(path: Path, suite: Suite, *, config_file: Path | None = None) -> BaselineRecord:
    """Read a record and line it up with `suite`; refuse one blessed on another suite."""
    raw = read_bytes(
        path,
        BaselineError,
        what="baseline record",
        key="baseline",
        hint="run `modelgate bless` on the model in production",
    )
    data = parse_record(raw, path, BaselineError, what="baseline record")
    if data.get("format") != FORMAT_NAME:
        raise BaselineError(f"not a {FORMAT_NAME} file", file=path, key="format")
    if data.get("format_version") != FORMAT_VERSION:
        raise BaselineError(
            f"unsupported format_version {data.get('format_version')!r}",
            file=path,
            key="format_version",
        )
    header = data.get("header")
    if not isinstance(header, dict):
        raise BaselineError("header must be a mapping", file=path, key="header")
    try:
        recorded = header["suite"]
        digest = recorded["digest"]
    except (TypeError, KeyError):
        raise BaselineError(
            "header.suite.digest is missing", file=path, key="header.suite"
        ) from None
    if digest != suite.digest:
        raise BaselineError(
            f"blessed on suite {recorded.get('name')} v{recorded.get('version')} "
            f"(digest {str(digest)[:12]}), but the suite is {suite.manifest.name} "
            f"v{suite.manifest.version} (digest {suite.digest[:12]})",
            file=path,
            key="header.suite.digest",
            hint="bless the production model again on this suite",
        )
    _check_header(header, suite, path)
    predictions = _parse_canaries(data.get("canaries"), suite, path)
    return BaselineRecord(
        path=path, sha256=hashlib.sha256(raw).hexdigest(), header=header, predictions=predictions
    )


def _check_header(header: dict[str, Any], suite: Suite, path: Path) -> None:
    """Refuse header fields of the wrong type before anything reads them."""
    model = header.get("model", {})
    if not isinstance(model, dict) or not isinstance(model.get("sha256", ""), str):
        raise BaselineError(
            "header.model must be a mapping with a sha256", file=path, key="header.model"
        )
    for name in ("blessed_at", "git_commit", "reason"):
        if header.get(name) is not None and not isinstance(header[name], str):
            raise BaselineError("must be text or null", file=path, key=f"header.{name}")
    from modelgate.probes.record import read_inversion, read_probes

    try:  # the blessed probe results are read by the trigger checks; refuse them here, named
        read_probes(header, len(suite.classes))
        read_inversion(header, len(suite.classes))
    except BaselineError as exc:
        raise BaselineError(exc.message, file=path, key=exc.key, hint=exc.hint) from None


def _parse_canaries(rows: Any, suite: Suite, path: Path) -> Predictions:
    if not isinstance(rows, list):
        raise BaselineError("canaries must be a list", file=path, key="canaries")
    if len(rows) != len(suite):
        raise BaselineError(
            f"{len(rows)} canaries recorded, the suite has {len(suite)}", file=path, key="canaries"
        )
    position = {canary_id: i for i, canary_id in enumerate(suite.ids)}
    k = len(suite.classes)
    class_index = {name: c for c, name in enumerate(suite.classes)}
    log_probs = np.zeros((len(suite), k), dtype=np.float32)
    labels = np.zeros(len(suite), dtype=np.int64)
    seen: dict[str, int] = {}
    for n, row in enumerate(rows):
        canary_id = row.get("id") if isinstance(row, dict) else None
        pred = row.get("pred") if isinstance(row, dict) else None
        if not isinstance(canary_id, str) or canary_id not in position:
            raise BaselineError(
                f"canary entry needs the id of a canary of suite {suite.manifest.name}",
                file=path,
                key=f"canaries.{n}.id",
            )
        if canary_id in seen:
            raise BaselineError(
                f"canary {canary_id!r} is recorded twice (entries {seen[canary_id]} and {n})",
                file=path,
                key=f"canaries.{n}.id",
            )
        seen[canary_id] = n
        if not isinstance(pred, str) or pred not in class_index:
            raise BaselineError(
                f"pred of canary {canary_id!r} must be one of the suite's classes",
                file=path,
                key=f"canaries.{n}.pred",
            )
        values = row.get("logp")
        if (
            not isinstance(values, list)
            or len(values) != k
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        ):
            raise BaselineError(
                f"logp of canary {canary_id!r} must list {k} numbers",
                file=path,
                key=f"canaries.{n}.logp",
            )
        i = position[canary_id]
        with np.errstate(over="ignore"):
            log_probs[i] = np.asarray(values, dtype=np.float64)
        labels[i] = class_index[pred]
        if not np.isfinite(log_probs[i]).all():
            raise BaselineError(
                f"non-finite scores for canary {canary_id!r}",
                file=path,
                key=f"canaries.{n}.logp",
            )
    # The recorded label wins over an argmax of rounded scores, which could break a tie.
    return Predictions(log_probs=log_probs, labels=labels)
