"""The blessed baseline record: what the production model did on every canary.

A JSON file laid out for diffs: the header pretty-printed, then one canary per line sorted by id,
so a pull request that re-blesses shows exactly which canaries changed. Up to `INLINE_MAX`
canaries each line carries the canary's log-probabilities (format 1). A larger suite's record
(format 2) keeps one short line per canary (id, label, prediction, margin) and puts the
log-probabilities and predictions in a binary sidecar (`NAME.logp.npy`) whose sha256 is in the
header: it reads in a fraction of inference time at 10^6 canaries, and is checked line for line
against the sidecar, so the text a reviewer reads is the data the gate uses.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelgate.atomic import write_bytes_atomic, write_text_atomic
from modelgate.baseline_header import BaselineHeader, parse_header
from modelgate.errors import BaselineError
from modelgate.jsonfile import loads, parse_record, read_bytes
from modelgate.npyfile import load_npy_bytes
from modelgate.paths import plain_file_name
from modelgate.predict import Predictions, true_class_margins
from modelgate.suite.format import Suite

FORMAT_NAME = "modelgate-baseline"
FORMAT_VERSION = 1  # log-probabilities inline, one canary per line
SIDECAR_VERSION = 2  # log-probabilities in the sidecar, one short line per canary
INLINE_MAX = 10_000  # suites up to this size keep their log-probabilities inline
SIDECAR_SUFFIX = ".logp.npy"
_DECIMALS = 4
_CANARIES = '\n  "canaries": [\n'
_CHUNK = 65_536  # canary lines rendered at once when a record is checked
_PLAIN = re.compile(r"^[ !#-\[\]-~]*$")  # printable ASCII but `"` and `\`: JSON text as is


@dataclass(frozen=True)
class BaselineRecord:
    """A parsed baseline: header plus the blessed predictions in suite order."""

    path: Path
    sha256: str
    header: BaselineHeader
    predictions: Predictions

    @property
    def suite_digest(self) -> str:
        return self.header.suite.digest


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
    path: Path, suite: Suite, predictions: Predictions, header: BaselineHeader
) -> None:
    """Write the record (and, above `INLINE_MAX` canaries, its sidecar first)."""
    sidecar = sidecar_path(path)
    if len(suite) <= INLINE_MAX:
        write_text_atomic(path, render_baseline(suite, predictions, header.to_json()))
        sidecar.unlink(missing_ok=True)  # a larger suite's leftover would only mislead
        return
    data, text = render_sidecar_record(suite, predictions, header.to_json(), sidecar.name)
    write_bytes_atomic(sidecar, data)
    write_text_atomic(path, text)


def sidecar_path(path: Path) -> Path:
    """`baselines/digits.json` -> `baselines/digits.logp.npy`."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def _sidecar_dtype(k: int) -> np.dtype[Any]:
    return np.dtype([("pred", "<i4"), ("logp", "<f4", (k,))])


def render_sidecar_record(
    suite: Suite, predictions: Predictions, header: dict[str, Any], sidecar_name: str
) -> tuple[bytes, str]:
    """(sidecar bytes, record text) of a format 2 record: rounded log-probabilities and the
    predicted labels in the sidecar, in the record's order (sorted by canary id)."""
    order = suite.id_order
    k = len(suite.classes)
    table = np.zeros(len(order), dtype=_sidecar_dtype(k))
    table["pred"] = predictions.labels[order]
    table["logp"] = np.round(predictions.log_probs[order].astype(np.float64), _DECIMALS)
    buffer = io.BytesIO()
    np.save(buffer, table, allow_pickle=False)
    data = buffer.getvalue()
    header = {
        **header,
        "log_probs": {
            "file": sidecar_name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "canaries": len(order),
            "classes": k,
        },
    }
    header_text = json.dumps(header, indent=2, sort_keys=True).replace("\n", "\n  ")
    head = (
        f'{{\n  "format": "{FORMAT_NAME}",\n  "format_version": {SIDECAR_VERSION},\n'
        f'  "header": {header_text},'
    )
    body = "".join(_sidecar_rows(suite, order, table, 0, len(order)))
    return data, head + _CANARIES + body + "\n  ]\n}\n"


def _sidecar_rows(
    suite: Suite, order: np.ndarray, table: np.ndarray, start: int, stop: int
) -> list[str]:
    """The record's lines for canaries `start:stop` (record order), each with its separator."""
    from modelgate.flipped import numbers, plain_text

    classes = [json.dumps(name) for name in suite.classes]
    part = order[start:stop]
    labels = suite.labels[part]
    margins = true_class_margins(table["logp"][start:stop], labels)
    texts = numbers(np.round(margins.astype(np.float64), _DECIMALS))
    ids = [suite.ids[i] for i in part.tolist()]
    canary = [f'"{x}"' for x in ids] if plain_text(ids) else [json.dumps(x) for x in ids]
    rows = [
        f"    [{i}, {classes[y]}, {classes[p]}, {m}],\n"
        for i, y, p, m in zip(canary, labels.tolist(), table["pred"][start:stop].tolist(), texts)
    ]
    if rows and stop >= len(order):
        rows[-1] = rows[-1][:-2]  # no separator after the last canary
    return rows


def read_baseline(path: Path, suite: Suite, *, config_file: Path | None = None) -> BaselineRecord:
    """Read a record and line it up with `suite`; refuse one blessed on another suite."""
    raw = read_bytes(
        path,
        BaselineError,
        what="baseline record",
        key="baseline",
        hint="run `modelgate bless` on the model in production",
    )
    head = _sidecar_head(raw.replace(b"\r\n", b"\n"))  # a checkout may turn \n into \r\n
    data = head or parse_record(raw, path, BaselineError, what="baseline record")
    if data.get("format") != FORMAT_NAME:
        raise BaselineError(f"not a {FORMAT_NAME} file", file=path, key="format")
    if data.get("format_version") not in (FORMAT_VERSION, SIDECAR_VERSION):
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
    if data.get("format_version") == SIDECAR_VERSION:
        if head is None:
            raise BaselineError(
                "format_version 2 needs the layout bless writes (the header, then one short "
                "line per canary, the scores in a sidecar file)",
                file=path,
                key="format_version",
                hint="bless the production model again",
            )
        predictions = _read_sidecar_record(raw.replace(b"\r\n", b"\n"), header, suite, path)
    else:
        predictions = _parse_canaries(data.get("canaries"), suite, path)
    return BaselineRecord(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        header=parse_header(header, path),
        predictions=predictions,
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
    """A format 1 record's predictions in suite order: column by column for a well-formed
    list, entry by entry (naming the first bad one) else."""
    fast = _canary_columns(rows, suite)
    return fast if fast is not None else _parse_canary_rows(rows, suite, path)


_ENTRY_KEYS = frozenset({"id", "label", "pred", "margin", "logp"})


def _canary_columns(rows: Any, suite: Suite) -> Predictions | None:
    """The predictions of a well-formed entry list, each check made over a whole column; None
    when any entry needs a closer look (the entry by entry parse names it)."""
    n, k = len(suite), len(suite.classes)
    if not isinstance(rows, list) or len(rows) != n:
        return None
    if not all(type(row) is dict and row.keys() <= _ENTRY_KEYS for row in rows):
        return None
    try:
        ids = [row["id"] for row in rows]
        preds = [row["pred"] for row in rows]
        scores = [row["logp"] for row in rows]
    except KeyError:
        return None
    if not all(type(x) is str for x in ids) or not all(type(x) is str for x in preds):
        return None
    position = {canary_id: i for i, canary_id in enumerate(suite.ids)}
    at = list(map(position.get, ids))
    class_index = {name: c for c, name in enumerate(suite.classes)}
    predicted = list(map(class_index.get, preds))
    if None in at or len(set(at)) != n or None in predicted:
        return None
    if not all(type(v) is list and len(v) == k for v in scores):
        return None
    if not {type(x) for x in itertools.chain.from_iterable(scores)} <= {float, int}:
        return None  # bool is neither: `true` is not a score
    table = np.array(scores, dtype=np.float64)  # ints of at most 300 digits: jsonfile.loads
    with np.errstate(over="ignore"):
        single = table.astype(np.float32)
    if not np.isfinite(single).all():
        return None
    rows_at = np.array(at, dtype=np.int64)
    log_probs = np.empty((n, k), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    log_probs[rows_at] = single
    labels[rows_at] = np.array(predicted, dtype=np.int64)
    return Predictions(log_probs=log_probs, labels=labels)


def _parse_canary_rows(rows: Any, suite: Suite, path: Path) -> Predictions:
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


def _sidecar_head(raw: bytes) -> dict[str, Any] | None:
    """The format, version and header of a format 2 record, read without its canary lines;
    None for anything else (a format 1 record, or a file the full parse will name)."""
    cut = raw.find(_CANARIES.encode())
    if cut < 0:
        return None
    try:
        data = loads(raw[:cut].decode("utf-8").rstrip().rstrip(",") + "\n}")
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format_version") != SIDECAR_VERSION:
        return None
    return data


def _read_sidecar_record(
    raw: bytes, header: dict[str, Any], suite: Suite, path: Path
) -> Predictions:
    """The predictions of a format 2 record, after checking that its sidecar has the digest
    the header names and that every canary line is what bless wrote from it."""
    entry = header.get("log_probs")
    k = len(suite.classes)
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("file"), str)
        or not plain_file_name(entry["file"])
        or not isinstance(entry.get("sha256"), str)
    ):
        raise BaselineError(
            "needs the file name and sha256 of its scores file",
            file=path,
            key="header.log_probs",
        )
    side = path.with_name(entry["file"])
    data = read_bytes(
        side, BaselineError, what="baseline scores file", key="header.log_probs.file",
        hint="commit the .logp.npy file bless wrote next to the record",
    )  # fmt: skip
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise BaselineError(
            "scores file changed since bless (digest mismatch)",
            file=side,
            key="header.log_probs.sha256",
            hint="restore the file bless wrote, or bless the production model again",
        )
    table = _sidecar_view(data, _sidecar_dtype(k), len(suite))
    if table is None:  # anything but the layout bless writes: np.load names what is wrong
        try:
            table = load_npy_bytes(data)
        except (ValueError, OSError, EOFError) as exc:
            raise BaselineError(f"not a plain .npy array: {exc}", file=side) from None
    if table.dtype != _sidecar_dtype(k) or table.shape != (len(suite),):
        raise BaselineError(
            f"holds {table.shape} of {table.dtype}; the suite has {len(suite)} canaries of "
            f"{k} classes",
            file=side,
            key="header.log_probs",
        )
    if (
        not ((table["pred"] >= 0) & (table["pred"] < k)).all()
        or not np.isfinite(table["logp"]).all()
    ):
        raise BaselineError("predictions out of range or non-finite scores", file=side)
    marker = _CANARIES.encode()
    cut = raw.find(marker) + len(marker)
    order = suite.id_order
    position, line = cut, raw.count(b"\n", 0, cut) + 1
    for start in range(0, len(order), _CHUNK):
        rows = _sidecar_rows(suite, order, table, start, min(start + _CHUNK, len(order)))
        expected = "".join(rows).encode()
        if raw[position : position + len(expected)] != expected:
            _refuse_line(raw, position, rows, suite.ids, order, start, line, path)
        position += len(expected)
        line += len(rows)
    if raw[position:] != b"\n  ]\n}\n":
        raise BaselineError(
            "unexpected text after the last canary", file=path, key="canaries", line=line
        )
    log_probs = np.empty((len(suite), k), dtype=np.float32)
    labels = np.empty(len(suite), dtype=np.int64)
    log_probs[order] = table["logp"]
    labels[order] = table["pred"]
    return Predictions(log_probs=log_probs, labels=labels)


def _sidecar_view(data: bytes, dtype: np.dtype[Any], n: int) -> np.ndarray | None:
    """The sidecar's table as a read-only view of its bytes (np.load would copy all of them),
    when its .npy header says exactly `dtype` and `(n,)`; None for anything else."""
    from numpy.lib import format as npy

    handle = io.BytesIO(data)
    try:
        version = npy.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            return None
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, fortran, found = read_header(handle)
        if shape != (n,) or fortran or found != dtype:
            return None
        return np.frombuffer(data, dtype=dtype, count=n, offset=handle.tell())
    except (ValueError, OSError, EOFError):  # a short or malformed file: np.load says why
        return None


def _refuse_line(
    raw: bytes,
    position: int,
    rows: list[str],
    ids: tuple[str, ...],
    order: np.ndarray,
    start: int,
    line: int,
    path: Path,
) -> None:
    for n, text in enumerate(rows):
        row = text.encode()
        if raw[position : position + len(row)] != row:
            canary = ids[int(order[start + n])]
            raise BaselineError(
                f"the line of canary {canary!r} is not what its scores file says (each line "
                "must be the id, label, prediction and margin bless wrote, in id order)",
                file=path,
                key=f"canaries.{start + n}",
                line=line + n,
                hint="restore the record bless wrote, or bless the production model again",
            )
        position += len(row)
