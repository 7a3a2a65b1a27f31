"""`modelgate merge PARTS...`: the shards' parts, verified, as the whole suite's predictions.

The parts must cover the suite exactly once (every shard 1..N, each once), and come from the
same suite digest, config digest, candidate digest and modelgate version as this merge; any
other part is a ShardError naming it (exit 2), never a verdict on a partial suite. The merged
predictions then go through the one `check` pipeline (`run_check(given=...)`), which loads the
candidate for the probes and the inversion and refuses it unless it is the model the shards ran.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from modelgate._version import __version__
from modelgate.config import Config
from modelgate.engine.candidate import Predicted, PredictionSource
from modelgate.engine.parts import SCORES_SUFFIX, Part, part_name, read_part, read_scores
from modelgate.engine.shard import Shard, shard_rows
from modelgate.errors import ShardError
from modelgate.predict import Predictions
from modelgate.suite.format import Suite


def part_paths(paths: Sequence[str | Path]) -> list[Path]:
    """The part headers named: files as given, folders by their `part-*-of-*.json` files, and
    glob patterns (`parts/**/part-*.json`, for a CI input that no shell expands) by matches."""
    found: list[Path] = []
    for path in (match for given in paths for match in _expand(given)):
        if path.is_dir():
            inside = sorted(path.glob("part-*-of-*.json"))
            if not inside:
                raise ShardError("holds no part-K-of-N.json", file=path, key="parts")
            found.extend(inside)
        else:
            found.append(path)
    if not found:
        raise ShardError("no shard parts given", key="parts")
    return found


def _expand(given: str | Path) -> list[Path]:
    """`given` itself, unless it is a glob pattern that names no file as written."""
    text = str(given)
    if not any(ch in text for ch in "*?[") or Path(text).exists():
        return [Path(text)]
    matches = sorted(glob.glob(text, recursive=True))
    if not matches:
        raise ShardError(
            "matches no file",
            file=text,
            key="parts",
            hint="download every shard's artifact before merging",
        )
    # `parts/*` also matches each header's scores file, which is read through its header.
    return [Path(m) for m in matches if not m.endswith(SCORES_SUFFIX)]


def merged_source(paths: Sequence[str | Path]) -> PredictionSource:
    """What `run_check(given=...)` takes: reads the parts and verifies them against the run's
    config and loaded suite (inside the pipeline, so a bad part leaves no report behind)."""

    def read(config: Config, suite: Suite) -> Predicted:
        return merge_parts(config, suite, part_paths(paths))

    return read


def _first_gap(indices: Iterable[int]) -> int:
    """The smallest shard index (from 1) that is not among `indices`."""
    k = 1
    for i in sorted(indices):
        if i != k:
            break
        k += 1
    return k


def merge_parts(config: Config, suite: Suite, files: Sequence[Path]) -> Predicted:
    """The whole suite's predictions from its parts, after checking each against this run."""
    parts = [read_part(path) for path in files]
    first = parts[0]
    for part in parts:
        _same_run(config, suite, part, first)
    by_index: dict[int, Part] = {}
    for part in parts:
        if part.index in by_index:
            raise ShardError(
                f"duplicates shard {part.index}/{part.count} of {by_index[part.index].path}",
                file=part.path,
                key="shard.index",
            )
        by_index[part.index] = part
    n_missing = first.count - len(by_index)  # every index is within 1..count (parts.py)
    if n_missing:
        k = _first_gap(by_index)  # never a list of 1..count: a part can claim any count
        start, stop = shard_rows(len(suite), first.batch_size, Shard(k, first.count))
        raise ShardError(
            f"shard {k}/{first.count} ({part_name(k, first.count)}) is missing: canaries "
            f"{start}..{stop - 1} were not predicted"
            + (f" ({n_missing} shards missing in all)" if n_missing > 1 else ""),
            file=first.path.parent / part_name(k, first.count),
            key="parts",
            hint="merge only after every shard job has finished and uploaded its part",
        )
    log_probs = np.empty((len(suite), len(suite.classes)), dtype=np.float32)
    for k in range(1, first.count + 1):
        part = by_index[k]
        log_probs[part.start : part.stop] = read_scores(part)
    return Predicted(
        predictions=Predictions(log_probs=log_probs, labels=log_probs.argmax(axis=1)),
        model_sha256=first.candidate_sha256,
        source=f"the {first.count} shard(s)",
    )


def _same_run(config: Config, suite: Suite, part: Part, first: Part) -> None:
    """ShardError naming `part` unless it belongs to this suite, config, candidate and version."""
    if part.suite_digest != suite.digest or part.n_canaries != len(suite):
        raise ShardError(
            f"was predicted on another suite (digest {part.suite_digest[:12]}..., "
            f"{part.n_canaries} canaries; this suite {suite.digest[:12]}..., {len(suite)})",
            file=part.path,
            key="suite.digest",
        )
    if part.n_classes != len(suite.classes):
        raise ShardError(
            f"has {part.n_classes} classes, the suite {len(suite.classes)}",
            file=part.path,
            key="suite.n_classes",
        )
    if part.config_sha256 != config.sha256:
        raise ShardError(
            f"was made with another config (sha256 {part.config_sha256[:12]}..., "
            f"{config.path.name} is {config.sha256[:12]}...)",
            file=part.path,
            key="config_sha256",
            hint="every shard job and the merge job must use the same modelgate.yaml",
        )
    if part.version != __version__:
        raise ShardError(
            f"was made by modelgate {part.version}, this is {__version__}",
            file=part.path,
            key="modelgate_version",
        )
    if part.candidate_sha256 != first.candidate_sha256:
        raise ShardError(
            f"was predicted by another candidate (sha256 {part.candidate_sha256[:12]}...) than "
            f"{first.path} ({first.candidate_sha256[:12]}...)",
            file=part.path,
            key="candidate.sha256",
        )
    if part.count != first.count:
        raise ShardError(
            f"is shard {part.index}/{part.count}; {first.path} is of {first.count} shards",
            file=part.path,
            key="shard.count",
        )
    batch_size = config.settings.inference.batch_size
    expected = shard_rows(len(suite), batch_size, Shard(part.index, part.count))
    if part.batch_size != batch_size or (part.start, part.stop) != expected:
        raise ShardError(
            f"covers canaries {part.start}..{part.stop - 1} in batches of {part.batch_size}; "
            f"shard {part.index}/{part.count} is {expected[0]}..{expected[1] - 1} in batches of "
            f"{batch_size}",
            file=part.path,
            key="rows",
        )
