"""Questions the ledger answers without running a model: a canary's or a tag's timeline across
versions, and the last blessed model that still passes against the original anchor."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from modelgate.baseline import BaselineRecord
from modelgate.config import Config
from modelgate.errors import HistoryError
from modelgate.history.ledger import Ledger, Run, RunKind
from modelgate.result import ModelInfo


@dataclass(frozen=True)
class CanaryPoint:
    """One canary in one run."""

    run: Run
    canary: str
    label: str
    pred: str
    margin: float
    flipped_from: str | None  # the previous run's prediction, when this run changed it


@dataclass(frozen=True)
class TagPoint:
    """The canaries of one tag in one run."""

    run: Run
    n: int
    correct: int
    flipped: tuple[str, ...]  # canary ids whose prediction changed since the previous run


def canary_timeline(ledger: Ledger, canary_id: str) -> list[CanaryPoint]:
    """Every recorded prediction of `canary_id`, in run order, across suite versions."""
    positions = ledger.positions(canary_id)
    if not positions:
        raise HistoryError(
            f"canary {canary_id!r} is in no suite the ledger knows", file=ledger.path
        )
    points: list[tuple[Run, str, str, float]] = []
    for digest, index, label in positions:
        classes = ledger.classes(digest)
        for run, _, pred, margin in ledger.canary_rows(digest, [index]):
            points.append((run, classes[label], classes[pred], margin))
    points.sort(key=lambda p: p[0].run_id)
    out: list[CanaryPoint] = []
    for run, label_name, pred_name, margin in points:
        before = out[-1].pred if out else None
        flipped = before if before is not None and before != pred_name else None
        out.append(CanaryPoint(run, canary_id, label_name, pred_name, margin, flipped))
    return out


def tag_timeline(ledger: Ledger, tag: str) -> list[TagPoint]:
    """Per run: how many canaries tagged `tag` were right, and which flipped since the last run."""
    by_run: dict[int, tuple[Run, dict[str, tuple[int, int]]]] = {}
    for digest in ledger.suite_digests():
        indices = ledger.tagged(digest, tag)
        if not indices:
            continue
        rows = ledger.suite(digest)
        for run, i, pred, _ in ledger.canary_rows(digest, indices):
            entry = by_run.setdefault(run.run_id, (run, {}))
            entry[1][rows.ids[i]] = (int(rows.labels[i]), pred)
    if not by_run:
        raise HistoryError(f"no canary tagged {tag!r} in the ledger", file=ledger.path)
    out: list[TagPoint] = []
    last: dict[str, int] = {}
    for run_id in sorted(by_run):
        run, preds = by_run[run_id]
        flipped = tuple(sorted(c for c, (_, p) in preds.items() if c in last and last[c] != p))
        correct = sum(y == p for y, p in preds.values())
        out.append(TagPoint(run, len(preds), correct, flipped))
        last.update({c: p for c, (_, p) in preds.items()})
    return out


@dataclass(frozen=True)
class LastGood:
    """The rollback target, and why each newer blessing is not one."""

    anchor: Run
    good: Run
    rejected: tuple[tuple[Run, tuple[str, ...]], ...]  # newer blessings and the checks they fail


def last_good(config: Config, ledger: Ledger, *, today: dt.date | None = None) -> LastGood:
    """The most recent blessed model whose stored behaviour on the current suite still passes
    the gate against the first blessing on that suite (the anchor); no model is run."""
    from modelgate.gate import evaluate, load_inputs

    inputs = load_inputs(config)
    suite = inputs.suite
    blessings = ledger.runs(
        kind=RunKind.BLESS, suite_digest=suite.digest, baseline_path=config.model.baseline
    )
    if not blessings:
        raise HistoryError(
            f"no blessing on suite {suite.manifest.name} v{suite.manifest.version} in the ledger",
            file=ledger.path,
            hint="`modelgate bless` records one",
        )
    anchor = blessings[0]
    record = BaselineRecord(
        path=ledger.path,
        sha256="",
        header={
            "blessed_at": anchor.time,
            "git_commit": anchor.git_commit,
            "model": {"sha256": anchor.model_sha256, "path": anchor.model_path},
        },
        predictions=ledger.predictions(anchor),
    )
    anchored = replace(inputs, baseline=record)
    rejected: list[tuple[Run, tuple[str, ...]]] = []
    tried: set[str] = set()
    for run in reversed(blessings[1:]):
        if run.model_sha256 in tried or run.model_sha256 == anchor.model_sha256:
            continue
        tried.add(run.model_sha256)
        info = ModelInfo(run.model_path, run.model_format, run.model_sha256, run.carries_code)
        result = evaluate(anchored, ledger.predictions(run), info, today=today)
        if result.exit_code == 0:
            return LastGood(anchor, run, tuple(rejected))
        failed = tuple(c.name for c in result.checks if c.status.value == "failed")
        rejected.append((run, failed))
    return LastGood(anchor, anchor, tuple(rejected))
