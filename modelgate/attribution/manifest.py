"""The training-data manifest: a folder in the canary suite's own format (`suite.yaml`, inputs,
a rows table) whose table also names each row's `source`, frozen and verified like a suite.

Reuses `modelgate.suite` for the manifest, digests and inputs, so `modelgate suite freeze` and
`suite verify` work on it unchanged; only the `source` and `added` columns are read here.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelgate.errors import SuiteError
from modelgate.suite.format import MANIFEST_NAME, InputSpec, Suite, load_suite


class TrainingDataError(SuiteError):
    """The training-data manifest is missing, malformed or tampered with (exit 2)."""


@dataclass(frozen=True)
class TrainingData:
    """A verified manifest: rows in file order, inputs memory-mapped (or texts)."""

    rows: Suite  # ids, labels (as trained), inputs; `tags` unused
    sources: tuple[str, ...]
    added: tuple[str, ...]  # "" where the table gives no date

    @property
    def path(self) -> Path:
        return self.rows.path

    @property
    def digest(self) -> str:
        return self.rows.digest

    def __len__(self) -> int:
        return len(self.rows)


def load_training_data(
    folder: Path, classes: tuple[str, ...], *, input_like: InputSpec | None = None
) -> TrainingData:
    """Load and verify the manifest; its classes must be the suite's, in the same order, and
    its rows shaped as `input_like` (the suite's inputs: the model scores both)."""
    try:
        rows = load_suite(folder)
    except SuiteError as exc:
        raise TrainingDataError(exc.message, file=exc.file, key=exc.key, line=exc.line,
                                hint=exc.hint) from None  # fmt: skip
    if rows.classes != tuple(classes):
        raise TrainingDataError(
            f"classes {list(rows.classes)} are not the suite's {list(classes)} (same order)",
            file=rows.path / MANIFEST_NAME,
            key="classes",
        )
    mine = rows.manifest.input
    if input_like is not None and (mine.shape, mine.dtype) != (input_like.shape, input_like.dtype):
        raise TrainingDataError(
            f"rows of shape {mine.shape} and dtype {mine.dtype} are not the canary suite's "
            f"({input_like.shape}, {input_like.dtype}): the model cannot score both",
            file=rows.path / MANIFEST_NAME,
            key="input.shape" if mine.shape != input_like.shape else "input.dtype",
        )
    sources, added = _provenance(rows.path / rows.manifest.samples, len(rows))
    return TrainingData(rows=rows, sources=sources, added=added)


def _provenance(path: Path, n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The `source` (required, non-empty) and `added` (optional) columns of the rows table."""
    sources: list[str] = []
    added: list[str] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "source" not in (reader.fieldnames or []):
            raise TrainingDataError(
                "no `source` column: each training row must name who supplied it",
                file=path,
                key="source",
                line=1,
                hint="add a source column (contributor, vendor, feed or batch)",
            )
        for row in reader:
            source = (row.get("source") or "").strip()
            if not source:
                raise TrainingDataError(
                    "empty source", file=path, key="source", line=reader.line_num
                )
            sources.append(source)
            added.append((row.get("added") or "").strip())
    if len(sources) != n:  # the suite reader accepted the same file: cannot differ
        raise TrainingDataError(f"{len(sources)} rows with a source, {n} rows", file=path)
    return tuple(sources), tuple(added)


def scored_rows(data: TrainingData, max_rows: int) -> np.ndarray:
    """Positions of the rows an attribution scores (file order): all of them, or within the
    budget the most recently added (then by id), so the choice depends on counts alone."""
    n = len(data)
    if n <= max_rows:
        return np.arange(n)
    order = sorted(range(n), key=lambda i: (data.added[i], data.rows.ids[i]), reverse=True)
    return np.sort(np.asarray(order[:max_rows], dtype=np.int64))


def write_training_data(
    folder: Path,
    *,
    name: str,
    modality: str,
    inputs: np.ndarray | list[str],
    labels: Sequence[str],
    sources: Sequence[str],
    classes: Sequence[str],
    ids: Sequence[str] | None = None,
    added: Sequence[str] | None = None,
    curated_by: str = "training pipeline",
) -> Path:
    """Write a frozen manifest (suite format, one `source` per row): what a training pipeline
    records beside each retrain so a failing check can be attributed."""
    import io

    from modelgate.atomic import write_text_atomic
    from modelgate.suite.format import SAMPLE_COLUMNS
    from modelgate.suite.freeze import freeze_suite, init_suite

    n = len(inputs)
    ids = list(ids) if ids is not None else [f"{name}-{i:0{len(str(n))}d}" for i in range(n)]
    added = list(added) if added is not None else [""] * n
    if not (len(labels) == len(sources) == len(ids) == len(added) == n):
        raise TrainingDataError("inputs, labels, sources, ids and dates differ in length",
                                file=folder)  # fmt: skip
    init_suite(folder, name=name, modality=modality, inputs=inputs, labels=list(labels),
               classes=list(classes), ids=ids, curated_by=curated_by,
               source="training data (per-row sources in samples.csv)", freeze=False)  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SAMPLE_COLUMNS)
    for row in zip(ids, labels, [""] * n, sources, added):
        writer.writerow(row)
    write_text_atomic(folder / "samples.csv", buffer.getvalue())
    freeze_suite(folder)
    return folder
