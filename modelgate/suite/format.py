"""The canary suite format v1: `suite.yaml` + inputs + a per-sample table, all digested.

A suite is trusted data kept apart from training data; loading it verifies every file's sha256
so a suite edited without `modelgate suite freeze` is refused rather than silently compared.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import itertools
import operator
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np
from pydantic import Field, field_validator

from modelgate.digest import file_sha256, json_sha256
from modelgate.errors import SuiteError
from modelgate.heap import keep_freed_memory
from modelgate.jsonfile import loads
from modelgate.paths import plain_file_name
from modelgate.suite.pages import PageReleaser
from modelgate.validation import StrictModel, validate_mapping
from modelgate.yamlfile import load_yaml

MANIFEST_NAME = "suite.yaml"
SAMPLE_COLUMNS = ("id", "label", "tags", "source", "added")
Modality = Literal["image", "tabular", "text"]


class InputSpec(StrictModel):
    shape: list[int] = Field(description="Shape of one canary's input (empty for text).")
    dtype: Literal["float32", "float64", "uint8", "int64", "str"] = "float32"


class Provenance(StrictModel):
    curated_by: str = Field(description="Who curated the suite.")
    source: str = Field(description="Where the canaries come from (a clean source).")
    created: Union[dt.date, str] = Field(description="When the suite was made.")  # noqa: UP007
    license: str | None = None
    notes: str | None = None


class SuiteManifest(StrictModel):
    """`suite.yaml`."""

    format: Literal[1] = 1
    name: str
    version: int = Field(
        0, ge=0, lt=2**63, description="Bumped by `modelgate suite freeze`."
    )  # the ledger's integer
    modality: Modality
    classes: list[str] = Field(min_length=2)
    input: InputSpec
    provenance: Provenance
    inputs: str = Field("inputs.npy", description="inputs.npy, or inputs.jsonl for text.")
    samples: str = Field("samples.csv", description="Per-sample table.")
    files: dict[str, str] = Field(
        default_factory=dict, description="sha256 of every data file, written by freeze."
    )

    @field_validator("inputs", "samples")
    @classmethod
    def _inside_the_folder(cls, name: str) -> str:
        """The data files live in the suite's folder: a path elsewhere is never read."""
        if not plain_file_name(name):
            raise ValueError(f"{name!r} must be a file name in the suite's folder")
        return name

    @field_validator("name")
    @classmethod
    def _printable_name(cls, name: str) -> str:
        """The suite's name heads every report and makes the default canary ids."""
        _refuse_unprintable(name, "the suite name")
        return name

    @field_validator("classes")
    @classmethod
    def _distinct_printable_class_names(cls, classes: list[str]) -> list[str]:
        """A class name is what reviewers read in every report: never blank, no control bytes,
        and each names one model output."""
        for name in classes:
            _refuse_unprintable(name, "a class name")
        twice = sorted(c for c, k in Counter(classes).items() if k > 1)
        if twice:
            raise ValueError(f"class names must be unique ({', '.join(map(repr, twice))} repeated)")
        return classes

    def to_yaml_dict(self) -> dict[str, object]:
        data = self.model_dump(mode="json", exclude_none=True)
        data["input"]["shape"] = list(self.input.shape)
        data["classes"] = list(self.classes)
        return data


def _refuse_unprintable(name: str, what: str) -> None:
    if not name.strip():
        raise ValueError(f"{what} is empty")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise ValueError(f"{what} {name!r} holds a control character")
    if name != name.strip():  # labels are read stripped: such a class is never matched
        raise ValueError(f"{what} {name!r} starts or ends with a space")


@dataclass(frozen=True)
class Suite:
    """A loaded, verified suite. `inputs` is memory-mapped (or a list of texts)."""

    path: Path
    manifest: SuiteManifest
    digest: str
    ids: tuple[str, ...]
    labels: np.ndarray  # (N,) int64 class indices
    tags: tuple[tuple[str, ...], ...]
    inputs: np.ndarray | list[str]

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.manifest.classes)

    def __len__(self) -> int:
        return len(self.ids)

    def batches(self, batch_size: int) -> Iterator[tuple[int, np.ndarray | list[str]]]:
        """(start index, batch) pairs in suite order; only one batch is in memory at a time
        (a memory-mapped suite's pages are dropped once the next batch is asked for)."""
        pages = PageReleaser(self.inputs)
        for start in range(0, len(self.ids), batch_size):
            yield start, self.inputs[start : start + batch_size]
            pages.release(start + batch_size)

    @functools.cached_property
    def id_order(self) -> np.ndarray:
        """Suite positions sorted by canary id (records and reports list canaries that way)."""
        return id_order(self.ids)

    def tagged(self, tag: str) -> np.ndarray:
        """Boolean mask of canaries carrying `tag`."""
        return np.array([tag in t for t in self.tags], dtype=bool)


def id_order(ids: Sequence[str]) -> np.ndarray:
    """Positions of `ids` sorted by id (Python's string order), in C where it is safe; int32
    below 2^31 canaries (the order and every flip's position in it are held through a check:
    at 10^6 canaries 8 MB less than int64 under the statistics' peak)."""
    order = _sorted_positions(ids)
    return order.astype(np.int32) if len(ids) < 2**31 else order


def _sorted_positions(ids: Sequence[str]) -> np.ndarray:
    """`id_order` as numpy or Python sorts it (int64)."""
    longest = max(map(len, ids), default=0)
    if ids and longest <= 64 and "\x00" not in "".join(ids):
        # numpy's fixed-width strings compare by code point as Python does, but drop trailing
        # NULs and take 4 bytes per character of the longest id, hence the two guards.
        try:  # ASCII ids as bytes: the same order, a quarter of the memory, sorted 8x faster
            return np.argsort(np.asarray(ids, dtype=f"S{longest}"), kind="stable")
        except UnicodeEncodeError:
            return np.argsort(np.asarray(ids, dtype=f"<U{longest}"), kind="stable")
    return np.asarray(sorted(range(len(ids)), key=ids.__getitem__), dtype=np.int64)


def read_manifest(folder: Path) -> SuiteManifest:
    """Read and validate `suite.yaml` in `folder`."""
    if not folder.exists():
        loop = " (a symlink that loops or leads nowhere)" if folder.is_symlink() else ""
        raise SuiteError(f"suite folder not found{loop}", file=folder, key="suite")
    manifest_path = folder / MANIFEST_NAME if folder.is_dir() else folder
    located = load_yaml(manifest_path, SuiteError, what="suite manifest")
    manifest: SuiteManifest = validate_mapping(located, SuiteManifest, SuiteError)
    return manifest


def data_files(manifest: SuiteManifest) -> tuple[str, ...]:
    return tuple(sorted({manifest.inputs, manifest.samples}))


def suite_digest(manifest: SuiteManifest) -> str:
    """The suite's identity: a digest of its manifest, which holds every file's digest."""
    return json_sha256(manifest.model_dump(mode="json"))


def verify_files(folder: Path, manifest: SuiteManifest) -> None:
    """Refuse a suite that was never frozen or whose files changed since the freeze."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest.files:
        raise SuiteError(
            "suite was never frozen (no file digests)",
            file=manifest_path,
            key="files",
            hint=f"run `modelgate suite freeze {folder}`",
        )
    for name in data_files(manifest):
        if name not in manifest.files:
            raise SuiteError(
                f"no digest recorded for {name}",
                file=manifest_path,
                key=f"files.{name}",
                hint="run `modelgate suite freeze`",
            )
    for name, recorded in sorted(manifest.files.items()):
        path = folder / name
        if not path.is_file():
            raise SuiteError("suite file is missing", file=path, key=f"files.{name}")
        if file_sha256(path) != recorded.removeprefix("sha256:"):
            raise SuiteError(
                "file changed since the suite was frozen (digest mismatch)",
                file=path,
                key=f"files.{name}",
                hint="if the change is reviewed, run `modelgate suite freeze` to bump the version",
            )


Samples = tuple[tuple[str, ...], np.ndarray, tuple[tuple[str, ...], ...]]


def _read_samples(path: Path, classes: tuple[str, ...]) -> Samples:
    """(ids, labels, tags) of the per-sample table: column by column in C for a well-formed
    table (a million rows in about a second); row by row, naming the first bad line, else."""
    fast = _read_columns(path, classes)
    return fast if fast is not None else _read_rows(path, classes)


def _read_columns(path: Path, classes: tuple[str, ...]) -> Samples | None:
    """The table read as columns, or None when any row needs a closer look."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            head = next(reader, [])
            if len(set(head)) != len(head) or "id" not in head or "label" not in head:
                return None
            wanted = [head.index("id"), head.index("label")]
            if "tags" in head:
                wanted.append(head.index("tags"))
            rows = list(map(operator.itemgetter(*wanted), reader))
    except (UnicodeDecodeError, csv.Error, IndexError):  # IndexError: a short row
        return None
    if not rows:
        return None
    # One map per column, not zip(*rows): zip would make an iterator object per row, and a
    # million of them set off the cyclic garbage collector over every row (0.7 s of 1.5).
    columns = [tuple(map(operator.itemgetter(c), rows)) for c in range(len(wanted))]
    del rows
    ids, raw_labels = columns[0], columns[1]
    index = {name: i for i, name in enumerate(classes)}
    # map() over the columns runs in C: a million rows in milliseconds, not a Python loop
    labels = np.fromiter(map(index.get, raw_labels, itertools.repeat(-1)), np.int64, len(ids))
    if (
        not all(ids)
        or list(map(str.strip, ids)) != list(ids)
        or len(set(ids)) != len(ids)
        or (labels < 0).any()
    ):
        return None
    tags: tuple[tuple[str, ...], ...] = ((),) * len(ids)
    if len(columns) > 2:
        parsed = {text: tuple(sorted(set(text.split()))) for text in set(columns[2])}
        tags = tuple(map(parsed.__getitem__, columns[2]))
    return tuple(ids), labels, tags


def _read_rows(path: Path, classes: tuple[str, ...]) -> Samples:
    index = {name: i for i, name in enumerate(classes)}
    ids: list[str] = []
    labels: list[int] = []
    tags: list[tuple[str, ...]] = []
    seen: set[str] = set()
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("id", "label") if c not in (reader.fieldnames or [])]
            if missing:
                raise SuiteError(f"missing column(s) {', '.join(missing)}", file=path, line=1)
            for row in reader:
                line = reader.line_num
                canary_id = (row.get("id") or "").strip()
                if not canary_id:
                    raise SuiteError("empty canary id", file=path, key="id", line=line)
                if canary_id in seen:
                    raise SuiteError(
                        f"duplicate canary id {canary_id!r}", file=path, key="id", line=line
                    )
                seen.add(canary_id)
                label = (row.get("label") or "").strip()
                if label not in index:
                    raise SuiteError(
                        f"label {label!r} is not one of the suite's classes",
                        file=path,
                        key="label",
                        line=line,
                    )
                ids.append(canary_id)
                labels.append(index[label])
                tags.append(tuple(sorted(set((row.get("tags") or "").split()))))
    except UnicodeDecodeError as exc:
        raise SuiteError(f"not UTF-8 text: {exc.reason}", file=path) from None
    except csv.Error as exc:
        raise SuiteError(f"malformed CSV: {exc}", file=path) from None
    return tuple(ids), np.asarray(labels, dtype=np.int64), tuple(tags)


def _read_inputs(
    folder: Path, manifest: SuiteManifest, ids: tuple[str, ...]
) -> np.ndarray | list[str]:
    path = folder / manifest.inputs
    if manifest.modality == "text":
        texts: list[str] = []
        try:
            with path.open(encoding="utf-8") as handle:
                for line_no, line in enumerate(handle, start=1):
                    try:
                        record = loads(line)
                    except ValueError as exc:
                        message = f"malformed JSON: {exc}"
                        raise SuiteError(message, file=path, line=line_no) from None
                    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                        raise SuiteError(
                            'each line must be {"id": ..., "text": "..."}',
                            file=path,
                            key="text",
                            line=line_no,
                        )
                    if line_no <= len(ids) and record.get("id") != ids[line_no - 1]:
                        raise SuiteError(
                            f"id {record.get('id')!r} does not match the sample table's "
                            f"{ids[line_no - 1]!r} at the same position",
                            file=path,
                            key="id",
                            line=line_no,
                        )
                    texts.append(record["text"])
        except UnicodeDecodeError as exc:
            raise SuiteError(f"not UTF-8 text: {exc.reason}", file=path) from None
        if len(texts) != len(ids):
            raise SuiteError(
                f"{len(texts)} texts but {len(ids)} rows in {manifest.samples}", file=path
            )
        return texts
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise SuiteError(
            f"not a plain .npy array (pickled objects are refused): {exc}", file=path
        ) from None
    except OSError as exc:
        raise SuiteError(f"cannot read array: {exc}", file=path) from None
    expected = (len(ids), *manifest.input.shape)
    if tuple(array.shape) != expected:
        raise SuiteError(
            f"shape {tuple(array.shape)} does not match {expected} "
            "(rows in the sample table x input.shape)",
            file=path,
            key="input.shape",
        )
    if str(array.dtype) != manifest.input.dtype:
        raise SuiteError(
            f"dtype {array.dtype} does not match input.dtype {manifest.input.dtype}",
            file=path,
            key="input.dtype",
        )
    return array


def load_suite(folder: str | Path, *, verify: bool = True) -> Suite:
    """Load a suite folder, verifying digests unless `verify` is False (freeze only)."""
    keep_freed_memory()  # every command starts here; the per-canary arrays that follow reuse pages
    folder = Path(folder)
    if folder.is_file() and folder.name == MANIFEST_NAME:
        folder = folder.parent
    manifest = read_manifest(folder)
    if verify:
        verify_files(folder, manifest)
    else:  # freeze: the files are read before any digest exists, so refuse a FIFO here
        for name in data_files(manifest):
            if (folder / name).exists() and not (folder / name).is_file():
                raise SuiteError("suite file is not a regular file", file=folder / name)
    ids, labels, tags = _read_samples(folder / manifest.samples, tuple(manifest.classes))
    if not ids:
        raise SuiteError("suite has no canaries", file=folder / manifest.samples)
    inputs = _read_inputs(folder, manifest, ids)
    return Suite(
        path=folder.resolve(),
        manifest=manifest,
        digest=suite_digest(manifest),
        ids=ids,
        labels=labels,
        tags=tags,
        inputs=inputs,
    )
