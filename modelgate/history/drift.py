"""Cumulative drift: the candidate against the blessed models of the last N blessings.

A patient attacker poisons a little per retrain, so each step stays inside the churn budget. The
same statistics as the single-step check (McNemar, destination, attraction) are run with
each earlier blessed model as the baseline, from the log-probabilities the ledger kept.

Alpha: the drift family gets the share one single-step statistical test gets
(`policy.AlphaPlan.share`: one share of `policy.alpha` over every enabled test), split evenly
(Bonferroni) over the m earlier blessings compared and over the three tests; attraction halves
its share between its count and shift views, and each test corrects within itself (Holm), as in
the single step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modelgate.analysis.calibration import Calibration
from modelgate.analysis.churn import attraction_test, destination_test
from modelgate.analysis.churn_checks import paired_regression_p
from modelgate.analysis.flipcurve import FlipCurve, self_calibrated_curves
from modelgate.analysis.flips import flip_table
from modelgate.history.ledger import Ledger, Run, RunKind
from modelgate.policy import apply_mode
from modelgate.predict import Predictions
from modelgate.result import Check, CheckName, Finding, Status
from modelgate.suite.format import Suite
from modelgate.waivers import Waivers, match_waivers

CHECK = CheckName.DRIFT
_TESTS = 3  # mcnemar, destination, attraction
_MAX_IDS = 20
_MIN_COMMON = 10  # fewer shared canaries than this with an older suite: not comparable


@dataclass(frozen=True)
class Version:
    """An earlier blessing lined up with the current suite (by canary id when suites differ)."""

    run: Run
    predictions: Predictions  # rows for `index` only
    index: np.ndarray  # positions in the current suite


@dataclass(frozen=True)
class _Signal:
    version: int  # position in the list of versions
    p_value: float
    p_adjusted: float
    observed: float
    expected: float
    canaries: tuple[int, ...]  # positions in the current suite


def earlier_blessings(
    ledger: Ledger, suite: Suite, baseline_path: str, baseline_model: str, window: int
) -> list[Version]:
    """The last `window` distinct models blessed into this baseline before the current one,
    oldest first, back to the latest forced blessing at most."""
    blessings = ledger.runs(kind=RunKind.BLESS, baseline_path=baseline_path)
    current = [i for i, b in enumerate(blessings) if b.model_sha256 == baseline_model]
    # blessings after the baseline's own (a reverted baseline) are not its ancestors
    end = current[-1] if current else len(blessings)
    # a forced blessing (--force --reason) accepted its shift on record: a new window starts there
    forced = [i for i, b in enumerate(blessings[: end + 1]) if b.verdict == "forced"]
    seen = {baseline_model}
    chosen: list[Version] = []
    for run in reversed(blessings[forced[-1] if forced else 0 : end]):
        if len(chosen) == window:
            break
        if run.model_sha256 in seen:
            continue
        version = _align(ledger, run, suite)
        if version is not None:
            seen.add(run.model_sha256)
            chosen.append(version)
    return chosen[::-1]


def _align(ledger: Ledger, run: Run, suite: Suite) -> Version | None:
    stored = ledger.predictions(run)
    if run.suite_digest == suite.digest:
        return Version(run, stored, np.arange(len(suite)))
    rows = ledger.suite(run.suite_digest)
    if rows.classes != suite.classes:
        return None
    position = {cid: i for i, cid in enumerate(suite.ids)}
    pairs = sorted(
        (position[cid], j)
        for j, cid in enumerate(rows.ids)
        if cid in position and rows.labels[j] == suite.labels[position[cid]]
    )
    if len(pairs) < _MIN_COMMON:
        return None
    new, old = (np.array(v, dtype=np.int64) for v in zip(*pairs))
    return Version(run, Predictions(stored.log_probs[old], stored.labels[old]), new)


def drift_check(
    suite: Suite,
    candidate: Predictions,
    baseline: Predictions,
    versions: Sequence[Version],
    *,
    waivers: Waivers,
    alpha: float,
    mode: str,
    calibration: Calibration | None = None,
    today: dt.date | None = None,
) -> Check:
    """One check: the shifts that built up between an earlier blessing and the candidate."""
    if not versions:
        return apply_mode(
            Check(CHECK, Status.SKIPPED, "no earlier blessing in the ledger to compare with"), mode
        )
    share = alpha / len(versions) / _TESTS
    signals: dict[tuple[str, int, int], list[_Signal]] = {}
    for n, version in enumerate(versions):
        found = _signals(
            suite, candidate, version, n=n, waivers=waivers, share=share,
            calibration=calibration, today=today or dt.date.today(),
        )  # fmt: skip
        for key, signal in found:
            signals.setdefault(key, []).append(signal)
    names = ", ".join(f"#{v.run.run_id}" for v in versions)
    findings = [
        _finding(key, found, suite, candidate=candidate, baseline=baseline, versions=versions)
        for key, found in sorted(signals.items())
    ]
    findings.sort(key=lambda f: (f.p_value or 0.0, f.message))
    if not findings:
        summary = (
            f"no shift built up over {len(versions)} earlier blessing(s) ({names}); "
            f"alpha {alpha:.2g} split over them"
        )
        return apply_mode(Check(CHECK, Status.PASSED, summary), mode)
    since = sorted({str(dict(f.evidence)["since"]) for f in findings}, key=lambda s: int(s[1:]))
    summary = f"{len(findings)} shift(s) built up since {', '.join(since)} over earlier blessings"
    return apply_mode(Check(CHECK, Status.FAILED, summary, tuple(findings)), mode)


def _signals(
    suite: Suite,
    candidate: Predictions,
    version: Version,
    *,
    n: int,
    waivers: Waivers,
    share: float,
    calibration: Calibration | None,
    today: dt.date,
) -> list[tuple[tuple[str, int, int], _Signal]]:
    idx, base = version.index, version.predictions
    y, classes = suite.labels[idx], suite.classes
    cand_labels, cand_logp = candidate.labels[idx], candidate.log_probs[idx]
    table = flip_table(y, base.labels, cand_labels)
    explained = match_waivers(
        waivers,
        [suite.ids[i] for i in idx],
        [suite.tags[i] for i in idx],
        [classes[c] for c in cand_labels],
        table.any,
        today,
    ).explained
    observed = np.where(explained, base.labels, cand_labels)
    curves: Sequence[FlipCurve] = (
        calibration.curves
        if calibration is not None
        else self_calibrated_curves(y, base.labels, cand_labels, base.log_probs)
    )
    out: list[tuple[tuple[str, int, int], _Signal]] = []
    n_neg = int((table.negative & ~explained).sum())
    n_pos = int(table.positive.sum())
    p, _ = paired_regression_p(n_neg, n_pos, calibration, None)
    if p <= share:
        lost = tuple(int(i) for i in idx[table.negative & ~explained])
        out.append((("mcnemar", -1, -1), _Signal(n, p, p, n_neg, n_pos, lost)))
    cells = destination_test(y, base.labels, observed, base.log_probs, curves, share,
                             classes=classes)  # fmt: skip
    cells += attraction_test(
        y, base.labels, observed, base.log_probs, cand_logp, curves, share / 2, classes=classes,
        shift_null=calibration.shift_null if calibration is not None else None,
    )  # fmt: skip
    for c in cells:
        if c.significant:
            key = (c.test, -1 if c.true_class is None else c.true_class, c.new_class)
            members = tuple(int(idx[i]) for i in c.indices)
            out.append((key, _Signal(n, c.p_value, c.p_adjusted, c.observed, c.expected, members)))
    return out


def _trajectory(
    key: tuple[str, int, int],
    suite: Suite,
    chain: Sequence[tuple[str, np.ndarray, np.ndarray]],
) -> tuple[str, ...]:
    """`label value` per version: the count in the shifted cell, or accuracy for McNemar."""
    test, a, b = key
    out = []
    for label, index, pred in chain:
        y = suite.labels[index]
        if test == "mcnemar":
            value = f"{(pred == y).mean():.1%}"
        elif a < 0:
            value = str(int(((y != b) & (pred == b)).sum()))
        else:
            value = str(int(((y == a) & (pred == b)).sum()))
        out.append(f"{label} {value}")
    return tuple(out)


def _finding(
    key: tuple[str, int, int],
    found: list[_Signal],
    suite: Suite,
    *,
    candidate: Predictions,
    baseline: Predictions,
    versions: Sequence[Version],
) -> Finding:
    test, a, b = key
    classes = suite.classes
    first = min(found, key=lambda s: s.version)  # the shift built up since the oldest of these
    since = versions[first.version].run
    every = np.arange(len(suite))
    chain = [(f"#{v.run.run_id}", v.index, v.predictions.labels) for v in versions]
    chain += [("baseline", every, baseline.labels), ("candidate", every, candidate.labels)]
    path = " -> ".join(_trajectory(key, suite, chain))
    built = (*(v.run.name for v in versions[first.version :]), "baseline", "candidate")
    stats = f"p = {first.p_value:.2g}, {len(found)} of {len(versions)} earlier blessing(s)"
    if test == "mcnemar":
        message = (
            f"Since {since.name}, {first.observed:.0f} canaries went from right to wrong and "
            f"{first.expected:.0f} from wrong to right ({stats}); accuracy per version: {path}."
        )
    elif test == "attraction_count":
        message = (
            f"Class '{classes[b]}' drew canaries of other classes step by step: "
            f"{first.observed:.0f} that {since.name} got right are now '{classes[b]}' where "
            f"clean churn predicts {first.expected:.2g} ({stats}); per version: {path}."
        )
    elif test == "attraction_shift":
        message = (
            f"Canaries of class '{classes[a]}' moved toward '{classes[b]}' since {since.name} "
            f"far more than other class pairs ({stats}); predicted '{classes[b]}' per "
            f"version: {path}."
        )
    else:
        message = (
            f"Canaries of class '{classes[a]}' drifted to '{classes[b]}' over several "
            f"blessings: {first.observed:.0f} that {since.name} got right are now "
            f"'{classes[b]}' where clean churn predicts {first.expected:.2g} ({stats}); "
            f"per version: {path}."
        )
    evidence: list[tuple[str, object]] = [
        ("p_adjusted", float(f"{first.p_adjusted:.4g}")),
        ("since", f"#{since.run_id}"),
        ("since_model", since.model_sha256),
        ("since_time", since.time),
        ("significant_against", tuple(f"#{versions[s.version].run.run_id}" for s in found)),
        ("trajectory", tuple(path.split(" -> "))),
        ("versions", built),
    ]
    if a >= 0:
        evidence.append(("from", classes[a]))
    if b >= 0:
        evidence.append(("to", classes[b]))
    return Finding(
        check=CHECK,
        message=message,
        test=f"drift_{test}",
        statistic=round(float(first.observed), 4),
        p_value=float(f"{first.p_value:.4g}"),
        canaries=tuple(suite.ids[i] for i in first.canaries[:_MAX_IDS]),
        evidence=tuple(sorted(evidence)),
    )
