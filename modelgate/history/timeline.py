"""Questions the ledger answers without running a model: a canary's or a tag's timeline across
versions, each run compared with the blessed model it was judged against, and the last blessed
model that still passes against the original anchor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelgate.errors import HistoryError
from modelgate.history.ledger import Ledger, Run, RunKind


@dataclass(frozen=True)
class CanaryPoint:
    """One canary in one run, next to the blessed model that run was compared with."""

    run: Run
    canary: str
    label: str
    pred: str
    margin: float
    flipped_from: str | None  # the blessed model's prediction, when this run's differs
    blessed: Run | None = None  # the blessing compared with (None: not in the ledger)


@dataclass(frozen=True)
class TagPoint:
    """The canaries of one tag in one run."""

    run: Run
    n: int
    correct: int
    flipped: tuple[str, ...]  # canary ids predicted otherwise than by the blessed model
    blessed: Run | None = None


def blessed_model_of(run: Run, blessings: Sequence[Run]) -> Run | None:
    """The blessing `run` was judged against: for a check, the blessed baseline it compared
    with; for a bless, the baseline it replaced. `blessings` in run order."""
    earlier = [
        b for b in blessings if b.run_id < run.run_id and b.baseline_path == run.baseline_path
    ]
    if run.kind is RunKind.CHECK and run.baseline_model_sha256:
        same = [b for b in earlier if b.model_sha256 == run.baseline_model_sha256]
        # A baseline blessed outside this ledger (another machine, a fresh CI cache): unknown.
        return same[-1] if same else None
    return earlier[-1] if earlier else None


def canary_timeline(ledger: Ledger, canary_id: str) -> list[CanaryPoint]:
    """Every recorded prediction of `canary_id`, in run order, across suite versions, each
    compared with the blessed model of its run (not with the run before it)."""
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
    blessings = [run for run, *_ in points if run.kind is RunKind.BLESS]
    pred_of = {run.run_id: pred for run, _, pred, _ in points}
    out: list[CanaryPoint] = []
    for run, label_name, pred_name, margin in points:
        blessed = blessed_model_of(run, blessings)
        before = pred_of[blessed.run_id] if blessed is not None else None
        flipped = before if before is not None and before != pred_name else None
        out.append(CanaryPoint(run, canary_id, label_name, pred_name, margin, flipped, blessed))
    return out


def tag_timeline(ledger: Ledger, tag: str) -> list[TagPoint]:
    """Per run: how many canaries tagged `tag` were right, and which the run predicts otherwise
    than the blessed model it was compared with."""
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
    blessings = [by_run[i][0] for i in sorted(by_run) if by_run[i][0].kind is RunKind.BLESS]
    out: list[TagPoint] = []
    for run_id in sorted(by_run):
        run, preds = by_run[run_id]
        blessed = blessed_model_of(run, blessings)
        reference = by_run[blessed.run_id][1] if blessed is not None else {}
        flipped = tuple(
            sorted(c for c, (_, p) in preds.items() if c in reference and reference[c][1] != p)
        )
        correct = sum(y == p for y, p in preds.values())
        out.append(TagPoint(run, len(preds), correct, flipped, blessed))
    return out


@dataclass(frozen=True)
class LastGood:
    """The rollback target, and why each newer blessing is not one."""

    anchor: Run
    good: Run
    rejected: tuple[tuple[Run, tuple[str, ...]], ...]  # newer blessings and the checks they fail
