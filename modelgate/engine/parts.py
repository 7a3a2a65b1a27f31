"""A shard's partial record: one slice of the suite's predictions, with the digests that tie it
to one suite, candidate, config and modelgate version.

Two files per shard: `part-K-of-N.json` (the header, diff-friendly) and `part-K-of-N.logp.npy`
(the slice's float32 log-probabilities, exactly as predicted, read with `allow_pickle=False`),
whose sha256 the header names. Parts arrive from other CI jobs as artifacts: untrusted input,
checked field by field before any number is used.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelgate._version import __version__
from modelgate.atomic import write_bytes_atomic, write_text_atomic
from modelgate.errors import ShardError
from modelgate.jsonfile import parse_record, read_bytes
from modelgate.npyfile import load_npy_bytes
from modelgate.paths import plain_file_name

PART_FORMAT = "modelgate-part"
PART_VERSION = 1
SCORES_SUFFIX = ".logp.npy"


@dataclass(frozen=True)
class Part:
    """One shard's header, read and type-checked (its scores are read by `read_scores`)."""

    path: Path
    index: int  # 1-based shard index K of `--shard K/N`
    count: int  # N
    start: int  # first suite position predicted
    stop: int  # one past the last
    batch_size: int
    suite_digest: str
    n_canaries: int
    n_classes: int
    candidate_sha256: str
    candidate_path: str
    config_sha256: str
    # Filled in by `read_part` (write_part computes them).
    version: str = ""
    scores_file: str = ""
    scores_sha256: str = ""

    @property
    def name(self) -> str:
        return f"shard {self.index}/{self.count} ({self.path})"


def part_name(index: int, count: int) -> str:
    return f"part-{index}-of-{count}.json"


def scores_path(header: Path) -> Path:
    """The `.logp.npy` file `write_part` puts beside the header `part-K-of-N.json`."""
    return header.with_name(header.name.removesuffix(".json") + SCORES_SUFFIX)


def write_part(folder: Path, part: Part, log_probs: np.ndarray) -> Path:
    """Write the scores, then the header naming their digest; returns the header's path."""
    folder.mkdir(parents=True, exist_ok=True)
    header_path = folder / part_name(part.index, part.count)  # `part.path` is not used
    scores = scores_path(header_path)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(log_probs, dtype="<f4"), allow_pickle=False)
    data = buffer.getvalue()
    write_bytes_atomic(scores, data)
    header = {
        "format": PART_FORMAT,
        "format_version": PART_VERSION,
        "modelgate_version": __version__,
        "shard": {"index": part.index, "count": part.count},
        "rows": {"start": part.start, "stop": part.stop},
        "batch_size": part.batch_size,
        "suite": {
            "digest": part.suite_digest,
            "n_canaries": part.n_canaries,
            "n_classes": part.n_classes,
        },
        "candidate": {"path": part.candidate_path, "sha256": part.candidate_sha256},
        "config_sha256": part.config_sha256,
        "log_probs": {"file": scores.name, "sha256": hashlib.sha256(data).hexdigest()},
        # The probes and the trigger inversion run once, in `modelgate merge`, on the whole
        # suite's predictions: their cost is fixed by the probe budget, not by the suite size.
        "probes": "run by modelgate merge",
    }
    write_text_atomic(header_path, json.dumps(header, indent=2, sort_keys=True) + "\n")
    return header_path


def read_part(path: Path) -> Part:
    """The header at `path`, every field checked; ShardError naming the file and key."""
    raw = read_bytes(
        path, ShardError, what="shard part", key="parts",
        hint="download every shard's artifact (part-K-of-N.json and .logp.npy) before merging",
    )  # fmt: skip
    data = parse_record(raw, path, ShardError, what="shard part")
    if data.get("format") != PART_FORMAT or data.get("format_version") != PART_VERSION:
        raise ShardError(
            f"not a modelgate shard part (format {PART_FORMAT!r} version {PART_VERSION})",
            file=path,
            key="format",
        )

    def field(key: str, kind: type, parent: Any = data) -> Any:
        node = parent
        for name in key.split("."):
            node = node.get(name) if isinstance(node, dict) else None
        if kind is int and (isinstance(node, bool) or not isinstance(node, int) or node < 0):
            raise ShardError("must be a whole number >= 0", file=path, key=key)
        if kind is str and (not isinstance(node, str) or not node):
            raise ShardError("must be a non-empty string", file=path, key=key)
        return node

    part = Part(
        path=path,
        index=field("shard.index", int),
        count=field("shard.count", int),
        start=field("rows.start", int),
        stop=field("rows.stop", int),
        batch_size=field("batch_size", int),
        suite_digest=field("suite.digest", str),
        n_canaries=field("suite.n_canaries", int),
        n_classes=field("suite.n_classes", int),
        candidate_sha256=field("candidate.sha256", str),
        candidate_path=field("candidate.path", str),
        config_sha256=field("config_sha256", str),
        version=field("modelgate_version", str),
        scores_file=field("log_probs.file", str),
        scores_sha256=field("log_probs.sha256", str),
    )
    if not 1 <= part.index <= part.count:
        raise ShardError(f"shard {part.index}/{part.count} does not exist", file=path, key="shard")
    if not part.start <= part.stop <= part.n_canaries:
        raise ShardError(
            f"rows {part.start}..{part.stop} do not fit a suite of {part.n_canaries}",
            file=path,
            key="rows",
        )
    if not plain_file_name(part.scores_file):
        raise ShardError("must be a file name beside the part", file=path, key="log_probs.file")
    return part


def read_scores(part: Part) -> np.ndarray:
    """The part's (stop - start, K) float32 log-probabilities, checked against its digest."""
    side = part.path.with_name(part.scores_file)
    data = read_bytes(
        side, ShardError, what="shard scores file", key="log_probs.file",
        hint="upload the .logp.npy file beside each part-K-of-N.json",
    )  # fmt: skip
    if hashlib.sha256(data).hexdigest() != part.scores_sha256:
        raise ShardError(
            "scores file changed since the shard wrote it (digest mismatch)",
            file=side,
            key="log_probs.sha256",
        )
    try:
        scores = load_npy_bytes(data)
    except (ValueError, OSError, EOFError) as exc:
        raise ShardError(f"not a plain .npy array: {exc}", file=side) from None
    shape = (part.stop - part.start, part.n_classes)
    if scores.dtype != np.dtype("<f4") or scores.shape != shape:
        raise ShardError(
            f"holds {scores.shape} of {scores.dtype}; the part names {shape} float32 scores",
            file=side,
            key="log_probs",
        )
    if not np.isfinite(scores).all():
        raise ShardError("non-finite scores", file=side, key="log_probs")
    return scores
