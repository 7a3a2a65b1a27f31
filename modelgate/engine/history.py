"""What the engine does after `evaluate`: the drift check, and recording each run in the ledger.

The single-step verdict is computed exactly as without history; the drift check is one more
check in the same GateResult.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from modelgate._version import __version__
from modelgate.baseline_header import BaselineHeader
from modelgate.config import Config
from modelgate.engine.inputs import git_commit
from modelgate.history.config_ledger import ledger_path
from modelgate.history.drift import drift_check, earlier_blessings
from modelgate.history.ledger import NewRun, RunKind, SuiteRows, open_ledger
from modelgate.policy import verdict_of, with_alpha
from modelgate.predict import Predictions
from modelgate.result import Check, GateResult, ModelInfo
from modelgate.suite.format import Suite

if TYPE_CHECKING:
    from modelgate.engine.inputs import Inputs


def with_drift(
    inputs: Inputs, candidate: Predictions, result: GateResult, *, today: dt.date | None = None
) -> GateResult:
    """`result` plus the drift check against the blessings before the current baseline."""
    config = inputs.config
    drift = config.policy.drift
    if drift.mode == "off":
        return result
    path = ledger_path(config)
    if path is None or not path.exists():  # history off, or nothing recorded yet
        return result
    with open_ledger(path) as ledger:
        versions = earlier_blessings(
            ledger,
            inputs.suite,
            config.settings.baseline,
            result.baseline.model_sha256,
            drift.window,
        )
    if not versions:  # a first baseline, or one forced on record: nothing to say yet
        return result
    check = drift_check(
        inputs.suite,
        candidate,
        inputs.baseline.predictions,
        versions,
        waivers=inputs.waivers,
        alpha=inputs.plan.share,
        mode=drift.mode,
        calibration=inputs.calibration,
        today=today,
    )
    return _add(result, with_alpha(check, inputs.plan))


def _add(result: GateResult, check: Check) -> GateResult:
    checks = tuple(sorted((*result.checks, check), key=lambda c: c.name))
    return replace(result, checks=checks, verdict=verdict_of(checks))


def _statuses(result: GateResult | None) -> dict[str, str]:
    return {c.name: c.status.value for c in result.checks} if result is not None else {}


def record_check(
    config: Config, suite: Suite, candidate: Predictions, result: GateResult
) -> int | None:
    """Record one `check`; returns its run id (None when history is off)."""
    path = ledger_path(config)
    if path is None:
        return None
    m = result.metrics
    metrics: dict[str, Any] = {
        "baseline_accuracy": m.baseline_accuracy,
        "candidate_accuracy": m.candidate_accuracy,
        "checks": _statuses(result),
        "negative_flips": m.negative_flips,
        "other_flips": m.other_flips,
        "positive_flips": m.positive_flips,
        "unexplained_flips": m.unexplained_flips,
    }
    run = _new_run(
        RunKind.CHECK,
        config,
        result.candidate,
        time=result.finished_at or result.started_at,
        baseline_model=result.baseline.model_sha256,
        verdict=result.verdict.value,
        metrics=metrics,
        commit=git_commit(config.folder),
    )
    with open_ledger(path) as ledger:
        return ledger.record(
            run, SuiteRows.from_suite(suite), candidate.log_probs, candidate.labels
        )


def record_bless(
    config: Config,
    suite: Suite,
    candidate: Predictions,
    *,
    info: ModelInfo,
    header: BaselineHeader,
    previous: GateResult | None,
) -> int | None:
    """Record one `bless` (the new baseline's predictions); None when history is off."""
    path = ledger_path(config)
    if path is None:
        return None
    metrics = {
        "checks": _statuses(previous),
        "forced": header.forced,
        "reason": header.reason,
    }
    run = _new_run(
        RunKind.BLESS,
        config,
        info,
        time=header.blessed_at,
        baseline_model=previous.baseline.model_sha256 if previous is not None else None,
        verdict="forced" if metrics["forced"] else "blessed",
        metrics=metrics,
        commit=header.git_commit,
    )
    from modelgate.digest import file_sha256

    with open_ledger(path) as ledger:
        run_id = ledger.record(
            run, SuiteRows.from_suite(suite), candidate.log_probs, candidate.labels
        )
        # The record this bless wrote: `check` refuses a baseline record the ledger never saw.
        ledger.remember_record(
            "baseline",
            config.settings.baseline,
            file_sha256(config.baseline_path),
            time=run.time,
            run_id=run_id,
        )
        return run_id


def _new_run(
    kind: RunKind,
    config: Config,
    info: ModelInfo,
    *,
    time: str,
    baseline_model: str | None,
    verdict: str,
    metrics: dict[str, Any],
    commit: str | None,
) -> NewRun:
    return NewRun(
        kind=kind,
        time=time,
        git_commit=commit,
        model_sha256=info.sha256,
        model_path=info.path,
        model_format=info.format,
        carries_code=info.carries_code,
        config_sha256=config.sha256,
        baseline_path=config.settings.baseline,
        baseline_model_sha256=baseline_model or None,
        verdict=verdict,
        metrics=metrics,
        modelgate_version=__version__,
    )


def check_with_history(
    inputs: Inputs, candidate: Predictions, result: GateResult, *, today: dt.date | None = None
) -> GateResult:
    """The engine's step after `evaluate` in `check`: add the drift check, record the run."""
    result = with_drift(inputs, candidate, result, today=today)
    record_check(inputs.config, inputs.suite, candidate, result)
    return result
