"""Read canaries for `suite init` from the files teams already have: .npy, .csv, .jsonl."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelgate.errors import UsageError
from modelgate.jsonfile import loads
from modelgate.npyfile import load_npy_file


@dataclass(frozen=True)
class RawCanaries:
    inputs: np.ndarray | list[str]
    labels: list[str]
    ids: list[str] | None
    tags: list[str] | None


def read_canaries(
    path: Path, *, labels: str | None, label_column: str, modality: str
) -> RawCanaries:
    """Inputs and labels from one file (plus a labels file for .npy)."""
    if not path.is_file():
        raise UsageError("inputs file not found", file=path)
    try:
        return _read(path, labels=labels, label_column=label_column, modality=modality)
    except UnicodeDecodeError as exc:  # the inputs file; a labels file is named by _from_npy
        raise UsageError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path) from None
    except csv.Error as exc:  # a field beyond csv's limit, a NUL in the stream
        raise UsageError(f"malformed CSV: {exc}", file=path) from None


def _read(path: Path, *, labels: str | None, label_column: str, modality: str) -> RawCanaries:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _from_npy(path, labels)
    if suffix == ".csv":
        if modality != "tabular":
            raise UsageError(
                "a .csv of features makes a tabular suite", file=path, hint="use --modality tabular"
            )
        return _from_csv(path, label_column)
    if suffix == ".jsonl":
        if modality != "text":
            raise UsageError(
                "a .jsonl of texts makes a text suite", file=path, hint="use --modality text"
            )
        return _from_jsonl(path, label_column)
    raise UsageError(f"unsupported inputs file type {suffix!r} (.npy, .csv or .jsonl)", file=path)


def _from_npy(path: Path, labels_file: str | None) -> RawCanaries:
    if not labels_file:
        raise UsageError("--labels FILE (one label per line) is required with .npy inputs")
    try:
        array = load_npy_file(path)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"not a plain .npy array: {exc}", file=path) from None
    if array.ndim < 1:
        raise UsageError("holds a single value, not one input per canary", file=path)
    label_path = Path(labels_file)
    if not label_path.is_file():
        raise UsageError("labels file not found", file=label_path)
    try:
        text = label_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"not UTF-8 text ({exc.reason})", file=label_path) from None
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if len(labels) != len(array):
        raise UsageError(f"{len(array)} inputs but {len(labels)} labels", file=label_path)
    return RawCanaries(inputs=array, labels=labels, ids=None, tags=None)


def _from_csv(path: Path, label_column: str) -> RawCanaries:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        if label_column not in columns:
            raise UsageError(f"no column {label_column!r}", file=path, line=1)
        features = [c for c in columns if c not in {label_column, "id", "tags"}]
        rows, labels, ids, tags = [], [], [], []
        for row in reader:
            try:
                rows.append([float(row[c]) for c in features])
            except (TypeError, ValueError):
                raise UsageError(
                    "non-numeric feature value", file=path, line=reader.line_num
                ) from None
            if row[label_column] is None:  # a short row: DictReader fills the rest with None
                raise UsageError(
                    f"the row has no {label_column!r} value (fewer fields than the header)",
                    file=path,
                    line=reader.line_num,
                )
            labels.append(row[label_column].strip())
            ids.append(row.get("id") or "")
            tags.append(row.get("tags") or "")
    return RawCanaries(
        inputs=np.asarray(rows, dtype=np.float32),
        labels=labels,
        ids=ids if all(ids) else None,
        tags=tags,
    )


def _from_jsonl(path: Path, label_column: str) -> RawCanaries:
    texts, labels, ids, tags = [], [], [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except ValueError as exc:
            raise UsageError(f"malformed JSON: {exc}", file=path, line=n) from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise UsageError('each line needs a "text" string', file=path, line=n)
        if label_column not in record:
            raise UsageError(f"no {label_column!r} field", file=path, line=n)
        texts.append(record["text"])
        labels.append(str(record[label_column]))
        ids.append(str(record.get("id") or ""))
        given = record.get("tags") or []
        if not isinstance(given, list) or not all(isinstance(t, str) for t in given):
            raise UsageError('"tags" must be a list of strings', file=path, line=n, key="tags")
        tags.append(" ".join(given))
    return RawCanaries(inputs=texts, labels=labels, ids=ids if all(ids) else None, tags=tags)
