"""Questions the ledger answers without running a model: a canary's or a tag's timeline across
versions, and the last blessed model that still passes against the original anchor."""

from __future__ import annotations

from dataclasses import dataclass

from modelgate.errors import HistoryError
from modelgate.history.ledger import Ledger, Run


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
