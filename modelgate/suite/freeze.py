"""Writing suites: `suite init` from arrays or tables; `suite freeze` (digests, version bump)."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast, get_args

import numpy as np
import yaml
from pydantic import ValidationError

from modelgate.atomic import write_bytes_atomic, write_text_atomic
from modelgate.digest import file_sha256
from modelgate.errors import SuiteError, UsageError
from modelgate.suite.format import (
    MANIFEST_NAME,
    SAMPLE_COLUMNS,
    InputSpec,
    Modality,
    Provenance,
    Suite,
    SuiteManifest,
    data_files,
    load_suite,
    read_manifest,
)


def write_manifest(folder: Path, manifest: SuiteManifest) -> None:
    text = yaml.safe_dump(manifest.to_yaml_dict(), sort_keys=False, allow_unicode=True)
    write_text_atomic(folder / MANIFEST_NAME, text)


def freeze_suite(folder: str | Path) -> tuple[SuiteManifest, bool]:
    """Record the sha256 of every data file; bump the version when any changed.

    Returns the new manifest and whether anything changed. The suite is fully loaded first,
    so a malformed table or a wrong shape is refused before it can be frozen.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    _refuse_non_finite(load_suite(folder, verify=False))
    digests = {name: "sha256:" + file_sha256(folder / name) for name in data_files(manifest)}
    if digests == manifest.files:
        return manifest, False
    frozen = manifest.model_copy(update={"files": digests, "version": manifest.version + 1})
    write_manifest(folder, frozen)
    return frozen, True


def _refuse_non_finite(suite: Suite) -> None:
    """A NaN or infinite canary input is frozen never: every model's scores on it would be
    refused later as the model's fault."""
    inputs = suite.inputs
    if isinstance(inputs, list) or not np.issubdtype(inputs.dtype, np.floating):
        return
    for start in range(0, len(inputs), 65_536):  # a memory-mapped suite, a block at a time
        block = np.asarray(inputs[start : start + 65_536])
        bad = ~np.isfinite(block.reshape(len(block), -1)).all(axis=1)
        if bad.any():
            i = start + int(np.flatnonzero(bad)[0])
            raise SuiteError(
                f"canary {suite.ids[i]!r} (row {i}) has a NaN or infinite input",
                file=suite.path / suite.manifest.inputs,
            )


def _samples_csv(
    ids: Sequence[str], labels: Sequence[str], tags: Sequence[str], source: str, added: str
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SAMPLE_COLUMNS)
    for canary_id, label, tag in zip(ids, labels, tags):
        writer.writerow([canary_id, label, tag, source, added])
    return buffer.getvalue()


def class_order(labels: Sequence[object]) -> list[str]:
    """The classes of `labels` in the order a model most likely outputs them: numeric labels by
    value (0, 1, 2, ..., 10, not 0, 1, 10, 2), others naturally (class2 before class10)."""
    names = {str(x) for x in labels}
    return sorted(names, key=_natural_key)


def _natural_key(name: str) -> tuple[tuple[int, float, str], ...]:
    try:
        value = float(name)
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return ((0, value, name),)
    parts = re.split(r"(\d+)", name)
    return tuple((1, float(p), "") if p.isdigit() else (2, 0.0, p) for p in parts if p)


def init_suite(
    folder: str | Path,
    *,
    name: str,
    modality: str,
    inputs: np.ndarray | list[str],
    labels: Sequence[str],
    classes: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    curated_by: str,
    source: str,
    license: str | None = None,
    notes: str | None = None,
    freeze: bool = True,
) -> SuiteManifest:
    """Create a new suite folder from in-memory inputs and labels (refuses to overwrite).

    Everything is checked before the first file is written, and a failure part-way removes what
    this call wrote, so a refused init never leaves a half suite that blocks the retry. Errors
    name the argument at fault (`classes`, `labels`, `ids`), not a file the user never wrote.
    """
    folder = Path(folder)
    if (folder / MANIFEST_NAME).exists():
        raise UsageError("a suite already exists here", file=folder / MANIFEST_NAME)
    if modality not in get_args(Modality):
        raise UsageError(f"modality must be one of {', '.join(get_args(Modality))}")
    n = len(inputs)
    if n == 0:
        raise UsageError("no canaries given")
    if len(labels) != n:
        raise UsageError(f"{n} inputs but {len(labels)} labels")
    ids = list(ids) if ids is not None else [f"{name}-{i:0{len(str(n))}d}" for i in range(n)]
    tags = list(tags) if tags is not None else [""] * n
    if len(ids) != n or len(tags) != n:
        raise UsageError("ids and tags must have one entry per input")
    labels = [str(x).strip() for x in labels]  # as load_suite reads them back
    classes = list(classes) if classes is not None else class_order(labels)
    _check_classes(classes)
    array = None if modality == "text" else np.ascontiguousarray(inputs)
    today = dt.date.today().isoformat()
    manifest = _new_manifest(
        name=name,
        modality=modality,
        classes=classes,
        spec=_input_spec(array),
        provenance=dict(
            curated_by=curated_by, source=source, created=today, license=license, notes=notes
        ),
    )
    _check_rows(ids, labels, classes)
    created = not folder.exists()
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if array is None:
            lines = [
                json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in zip(ids, inputs)
            ]
            written.append(folder / manifest.inputs)
            write_text_atomic(folder / manifest.inputs, "\n".join(lines) + "\n")
        else:
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            written.append(folder / manifest.inputs)
            write_bytes_atomic(folder / manifest.inputs, buffer.getvalue())
        written.append(folder / manifest.samples)
        write_text_atomic(folder / manifest.samples, _samples_csv(ids, labels, tags, source, today))
        written.append(folder / MANIFEST_NAME)
        write_manifest(folder, manifest)
        if freeze:
            manifest, _ = freeze_suite(folder)
    except BaseException:
        _remove(written, folder if created else None)
        raise
    return manifest


def _check_classes(classes: Sequence[str]) -> None:
    """Said plainly here; names, duplicates and the rest are the manifest's own rules."""
    if len(classes) < 2:
        raise UsageError(
            f"a suite needs at least two classes, got {list(classes)!r}", key="classes"
        )


def _check_rows(ids: Sequence[str], labels: Sequence[str], classes: Sequence[str]) -> None:
    """The checks `load_suite` makes on samples.csv, made on the arguments before writing it."""
    seen: set[str] = set()
    for i, canary_id in enumerate(ids, start=1):
        canary_id = str(canary_id)
        if not canary_id.strip():
            raise UsageError(f"canary {i} has an empty id", key="ids")
        if canary_id in seen:
            raise UsageError(f"duplicate canary id {canary_id!r} (canary {i})", key="ids")
        seen.add(canary_id)
    known = set(classes)
    for i, label in enumerate(labels, start=1):
        if label not in known:
            raise UsageError(
                f"label {label!r} of canary {i} is not one of the classes "
                f"({', '.join(map(repr, classes))})",
                key="labels",
            )


def _input_spec(array: np.ndarray | None) -> InputSpec:
    if array is None:
        return InputSpec(shape=[], dtype="str")
    allowed = get_args(InputSpec.model_fields["dtype"].annotation)
    if str(array.dtype) not in allowed:
        raise UsageError(
            f"inputs of dtype {array.dtype} are not supported ({', '.join(allowed)}); "
            "convert them first"
        )
    return InputSpec(shape=[int(s) for s in array.shape[1:]], dtype=cast(Any, str(array.dtype)))


def _new_manifest(
    *, name: str, modality: str, classes: list[str], spec: InputSpec, provenance: dict[str, Any]
) -> SuiteManifest:
    try:
        return SuiteManifest(
            name=name,
            version=0,
            modality=cast(Modality, modality),
            classes=list(classes),
            input=spec,
            provenance=Provenance(**provenance),
            inputs="inputs.jsonl" if spec.dtype == "str" else "inputs.npy",
            samples="samples.csv",
        )
    except ValidationError as exc:  # e.g. one class only, a blank class name: named, no traceback
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"][:1]) or None
        raise UsageError(str(first["msg"]).removeprefix("Value error, "), key=key) from None


def _remove(written: list[Path], folder: Path | None) -> None:
    """Undo a refused init: the files it wrote, and the folder when it made it."""
    for path in written:
        path.unlink(missing_ok=True)
    if folder is not None:
        with contextlib.suppress(OSError):  # not empty: something else is in there, leave it
            folder.rmdir()
