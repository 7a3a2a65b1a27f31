"""Attribute a decided check: for each failing finding, rank the training rows by their influence
on the behaviour it describes and test each source against its share of the rows.

`attribute_result(config, result, ...)` is what the engine calls after a failing verdict (see
`attribution.hook`) and after the check's pure part for `modelgate attribute`
(`engine.attribute.attribute_check`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from modelgate.attribution.behaviours import behaviours_for
from modelgate.attribution.manifest import TrainingData, load_training_data, scored_rows
from modelgate.attribution.result import (
    AttributionReport,
    Budget,
    FindingAttribution,
    RowScore,
    SourceStat,
)
from modelgate.attribution.sources import holm, source_tests
from modelgate.config import TrainingDataSpec
from modelgate.errors import ConfigError, UsageError
from modelgate.paths import resolved
from modelgate.result import GateResult
from modelgate.suite.format import Suite, load_suite


def training_spec(config: Any) -> TrainingDataSpec:
    spec = getattr(config.settings, "training_data", None)
    if spec is None:
        raise ConfigError(
            "no training_data: attribution needs the training-data manifest",
            file=config.path,
            key="training_data",
            hint="add `training_data: data/train` (a suite-format folder with a source column)",
        )
    assert isinstance(spec, TrainingDataSpec)
    return spec


def attribute_result(
    config: Any,
    result: GateResult,
    *,
    suite: Suite | None = None,
    triggers: Any = None,
    predictor: Any = None,
    only: str | None = None,
    all_flips: bool = False,
) -> AttributionReport:
    """Attribute each failing finding of `result` (only check `only`, when given) to the rows of
    `training_data`; with `all_flips`, every unexplained flip even when no check failed (what
    clean churn looks like to the statistic). `triggers` (the check's TriggerRun) is needed for
    probe findings, and `predictor` saves loading the candidate again."""
    spec = training_spec(config)
    suite = suite if suite is not None else load_suite(config.suite_path)
    data = load_training_data(
        config.resolve(spec.path), suite.classes, input_like=suite.manifest.input
    )
    shown = _display(data.path, config.folder)
    report = AttributionReport(
        manifest=shown,
        manifest_digest=data.digest,
        model_sha256=result.candidate.sha256,
        alpha=float(config.policy.alpha),
        budget=None,
        findings=(),
        failing=tuple(c.name for c in result.checks if c.status.value == "failed"),
        classes=suite.classes,
    )
    if only is not None and only not in {c.name for c in result.checks}:
        raise UsageError(
            f"this run has no check named {only!r} (it is off in the config)",
            key="--finding",
            hint="one of: " + ", ".join(sorted(c.name for c in result.checks)),
        )
    behaviours, notes = behaviours_for(
        result, suite, triggers, spec.max_canaries, only, all_flips=all_flips
    )
    if not behaviours:
        why = "no failing finding to attribute" if not notes else "nothing attributable"
        return replace(report, notes=(why, *notes))
    import importlib.util

    if importlib.util.find_spec("captum") is None:
        raise UsageError(
            "attribution needs captum, which is not installed",
            key="training_data",
            hint="pip install 'modelgate[attribution]'",
        )
    from modelgate.attribution.features import REL_TOL
    from modelgate.attribution.scoring import FITTED, NotWhiteBox, influence_shares, scorer_for
    from modelgate.models import load_candidate

    if predictor is None:
        predictor = load_candidate(config, suite.classes)
    positions = scored_rows(data, spec.max_rows)
    samples = [b.inputs for b in behaviours] + [
        b.reference for b in behaviours if b.reference is not None
    ]
    try:
        scorer = scorer_for(
            predictor, samples, len(suite.classes), lambda: _fit_rows(data, positions)
        )
        scored = [
            (b, influence_shares(scorer, data, positions, b, spec.batch_size)) for b in behaviours
        ]
    except NotWhiteBox as exc:
        return replace(report, notes=(f"{exc}; not attributed", *notes), not_white_box=str(exc))
    if scorer.kind == FITTED:
        notes.append(
            "scored through the callable's `.features`: its final layer fitted by least squares "
            f"and checked against its scores on every batch read (relative residual <= {REL_TOL:g})"
        )
    budget = Budget(
        rows_total=len(data),
        rows_scored=len(positions),
        max_canaries=spec.max_canaries,
        permutations=spec.permutations,
    )
    if len(positions) < len(data):
        notes.append(
            f"scored the {len(positions)} most recently added of {len(data)} training rows "
            "(training_data.max_rows)"
        )
    findings = _rank(scored, data, positions, suite, spec, report.alpha)
    return replace(report, budget=budget, findings=findings, notes=tuple(notes))


def _rank(
    scored: list[tuple[Any, Any]], data: TrainingData, positions: Any, suite: Suite,
    spec: TrainingDataSpec, alpha: float,
) -> tuple[FindingAttribution, ...]:  # fmt: skip
    import numpy as np

    sources = [data.sources[i] for i in positions.tolist()]
    labels = data.rows.labels[positions]
    tests = [source_tests(shares, sources, labels, spec.permutations) for _, shares in scored]
    adjusted = iter(holm([t.p_value for per in tests for t in per]))
    out = []
    for (behaviour, shares), per in zip(scored, tests):
        stats = []
        for t in per:
            p_adj = next(adjusted)
            stats.append(SourceStat(t.source, t.rows, t.row_share, t.mass_share, t.p_value,
                                    p_adj, p_adj <= alpha))  # fmt: skip
        ids = data.rows.ids
        order = sorted(range(len(positions)), key=lambda j: (-shares[j], ids[positions[j]]))
        top = tuple(
            RowScore(
                rank=r + 1,
                id=ids[positions[j]],
                label=suite.classes[int(labels[j])],
                source=sources[j],
                share=float(shares[j]),
                position=int(positions[j]),
            )
            for r, j in enumerate(order[: spec.report_rows])
        )
        out.append(FindingAttribution(behaviour, top, tuple(stats), np.asarray(shares)))
    return tuple(out)


def _fit_rows(data: TrainingData, positions: Any) -> Any:
    """An evenly spaced sample of the scored rows (at most FIT_ROWS): what a callable's fitted
    final layer is checked on besides the canaries, before every scored batch is."""
    import numpy as np

    from modelgate.attribution.features import FIT_ROWS
    from modelgate.attribution.scoring import take

    at = positions[np.unique(np.linspace(0, len(positions) - 1, min(FIT_ROWS, len(positions))
                                         ).round().astype(np.int64))]  # fmt: skip
    return take(data.rows.inputs, at)


def _display(path: Path, folder: Path) -> str:
    try:
        return str(resolved(path).relative_to(folder))
    except ValueError:
        return str(path)
