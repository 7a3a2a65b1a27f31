"""Writing suites: `suite init` from arrays or tables; `suite freeze` (digests, version bump)."""

from __future__ import annotations

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
from modelgate.errors import UsageError
from modelgate.suite.format import (
    MANIFEST_NAME,
    SAMPLE_COLUMNS,
    InputSpec,
    Modality,
    Provenance,
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
    load_suite(folder, verify=False)
    digests = {name: "sha256:" + file_sha256(folder / name) for name in data_files(manifest)}
    if digests == manifest.files:
        return manifest, False
    frozen = manifest.model_copy(update={"files": digests, "version": manifest.version + 1})
    write_manifest(folder, frozen)
    return frozen, True


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
    """Create a new suite folder from in-memory inputs and labels (refuses to overwrite)."""
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
    classes = list(classes) if classes is not None else class_order(labels)
    today = dt.date.today().isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    if modality == "text":
        lines = [json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in zip(ids, inputs)]
        write_text_atomic(folder / "inputs.jsonl", "\n".join(lines) + "\n")
        inputs_name, spec = "inputs.jsonl", InputSpec(shape=[], dtype="str")
    else:
        array = np.ascontiguousarray(inputs)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        write_bytes_atomic(folder / "inputs.npy", buffer.getvalue())
        inputs_name = "inputs.npy"
        allowed = get_args(InputSpec.model_fields["dtype"].annotation)
        if str(array.dtype) not in allowed:
            raise UsageError(
                f"inputs of dtype {array.dtype} are not supported "
                f"({', '.join(allowed)}); convert them first"
            )
        spec = InputSpec(shape=[int(s) for s in array.shape[1:]], dtype=cast(Any, str(array.dtype)))
    write_text_atomic(
        folder / "samples.csv", _samples_csv(ids, [str(x) for x in labels], tags, source, today)
    )
    try:
        manifest = SuiteManifest(
            name=name,
            version=0,
            modality=cast(Modality, modality),
            classes=list(classes),
            input=spec,
            provenance=Provenance(
                curated_by=curated_by, source=source, created=today, license=license, notes=notes
            ),
            inputs=inputs_name,
            samples="samples.csv",
        )
    except ValidationError as exc:  # e.g. one class only: named, not a traceback
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or None
        raise UsageError(first["msg"], file=folder / MANIFEST_NAME, key=key) from None
    write_manifest(folder, manifest)
    if freeze:
        manifest, _ = freeze_suite(folder)
    return manifest
