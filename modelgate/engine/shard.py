"""`check --shard K/N`: predict one deterministic slice of the suite and write its partial record.

Slices are runs of whole batches (`inference.batch_size`), so every canary is scored in exactly
the batch a single-process check puts it in: merged shards give the same bytes as one process.
A shard only predicts; `modelgate merge` reads every part, verifies them and runs the probes,
the inversion, the statistics and the reports on the whole suite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from modelgate.engine.candidate import Progress, predict_with_model
from modelgate.engine.parts import Part, part_name, scores_path, write_part
from modelgate.errors import UsageError

_SHARD = re.compile(r"^\s*(\d{1,6})\s*/\s*(\d{1,6})\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int


@dataclass(frozen=True)
class ShardRun:
    """What one shard job predicted and where its part went."""

    shard: Shard
    start: int
    stop: int
    part: Path  # the header, part-K-of-N.json

    @property
    def files(self) -> tuple[Path, Path]:
        """Every file of the part (header, then scores): what the shard job must upload."""
        return self.part, scores_path(self.part)


def parse_shard(text: str, *, key: str = "--shard") -> Shard:
    """`K/N` -> Shard; anything else is a UsageError naming `key` (the option or input)."""
    match = _SHARD.match(text)
    if match is None:
        raise UsageError(f"{text!r} is not K/N (for example 2/3)", key=key)
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise UsageError(f"shard {index} of {count}: K must be between 1 and N", key=key)
    return Shard(index, count)


def shard_rows(n: int, batch_size: int, shard: Shard) -> tuple[int, int]:
    """Suite positions [start, stop) of `shard`: an even share of the suite's whole batches."""
    batches = -(-n // batch_size)
    first = (shard.index - 1) * batches // shard.count
    last = shard.index * batches // shard.count
    return min(first * batch_size, n), min(last * batch_size, n)


def run_shard(
    config_path: str | Path,
    shard: Shard,
    *,
    candidate: str | Path | None = None,
    part_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> ShardRun:
    """Load the config and the suite, predict the shard's canaries, write its part (into
    `part_dir`, default the config's `output.dir`)."""
    from modelgate.engine.session import load_check_config
    from modelgate.suite.format import load_suite

    config = load_check_config(config_path, candidate)
    suite = load_suite(config.suite_path)
    batch_size = config.settings.inference.batch_size
    start, stop = shard_rows(len(suite), batch_size, shard)
    predictions, predictor = predict_with_model(config, suite, progress, rows=(start, stop))
    folder = Path(part_dir) if part_dir else config.resolve(config.settings.output.dir)
    part = Part(
        path=folder / part_name(shard.index, shard.count),
        index=shard.index,
        count=shard.count,
        start=start,
        stop=stop,
        batch_size=batch_size,
        suite_digest=suite.digest,
        n_canaries=len(suite),
        n_classes=len(suite.classes),
        candidate_sha256=predictor.info.sha256,
        candidate_path=predictor.info.path,
        config_sha256=config.sha256,
    )
    try:
        path = write_part(folder, part, predictions.log_probs)
    except OSError as exc:
        from modelgate.errors import OutputError

        raise OutputError(
            f"cannot write the shard part: {exc.strerror or exc}",
            file=exc.filename or folder,
            key="--part-dir",
        ) from None
    return ShardRun(shard=shard, start=start, stop=stop, part=path)
