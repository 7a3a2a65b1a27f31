"""Run the probes and the inversion once on a model: the stage between inference and evaluation.

The same function serves `check` (on the candidate, next to the blessed numbers) and `bless`
(whose results go into the new baseline header). Everything it does is sized by the counts of
the config's `probes` budget; the clock only ever aborts (`budget_s` of the invert probe).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelgate.models.interface import Predictor
from modelgate.policy import AlphaPlan, alpha_plan
from modelgate.predict import Predictions
from modelgate.probe_settings import ProbePlan, TokenProbe, TriggerPolicy, plan
from modelgate.probes.ceiling import BOUND_BELOW, few_control_ceiling
from modelgate.probes.compare import flagged, probe_cells
from modelgate.probes.library import build_probes
from modelgate.probes.measure import ProbeCounts, measure, probe_subset, take
from modelgate.probes.probe import Probe, family_of, needs_clean_ceiling, value_range
from modelgate.probes.record import BlessedProbes, read_inversion, read_probes
from modelgate.probes.results import Inversion, TriggerRun
from modelgate.probes.sample import MISS, upper_rates
from modelgate.suite.format import Suite

if TYPE_CHECKING:
    from modelgate.config import Config

Progress = Callable[[int, int], None]


def run_triggers(
    suite: Suite,
    predictor: Predictor,
    predictions: Predictions,
    *,
    setting: Any = "default",
    policy: TriggerPolicy | None = None,
    alpha: float = 0.01,  # this check's share of policy.alpha
    header: Mapping[str, Any] | None = None,
    folder: Path | None = None,
    config_file: Path | None = None,
    source: Path | str = "candidate",
    pairs: bool = False,
    invert: bool = True,
    sample: bool = False,
    probe_progress: Callable[[int, int], None] | None = None,
    invert_progress: Callable[[int, int], None] | None = None,
) -> TriggerRun:
    """Measure every probe on the model, then invert it (torch only), with the counts of the
    config's budget: the same work on any machine.

    `pairs`: also the word pairs chosen from this model's most-rising words. They are chosen
    per model, so only a calibration that applied the same choice to every clean control can
    judge them (the null of the maximum); without one they do not run.
    `sample`: a clean control's measurement, on the seeded two fifths of the probe canaries
    that `probes.sample` draws (image and tabular suites of 1,000 probe canaries or more; text
    suites choose their word pairs from the counts, so they are measured in full).
    """
    started = time.perf_counter()
    policy = policy or TriggerPolicy()
    probe_plan = plan(setting, suite.manifest.modality)
    probes = build_probes(
        probe_plan, suite, score=predictor.score, folder=folder, config_file=config_file
    )
    blessed = read_probes(header, len(suite.classes)) if header else None
    counts = None
    if probes:
        counts = measure(
            predictor,
            suite,
            probes,
            predictions.labels,
            source=source,
            canaries=probe_plan.canaries,
            batch_bytes=probe_plan.batch_bytes,
            progress=probe_progress,
            sample=sample and suite.manifest.modality != "text",
        )
        if pairs:
            counts, probes = _with_pairs(
                predictor, suite, predictions, probe_plan, counts, probes, blessed, source
            )
    controls = {p.name: p.control for p in probes}
    notes: list[str] = []
    inversion = None
    spec = probe_plan.invert
    if spec is not None and invert:
        reason = skip_reason(predictor, suite)
        if reason:
            notes.append(reason)
        else:
            order = search_order(
                len(suite.classes),
                _priority(counts, controls, blessed, policy, alpha),
                read_inversion(header, len(suite.classes)) if header else None,
            )
            chosen = order if spec.classes is None else order[: spec.classes]
            inversion = _invert(
                predictor,
                suite,
                predictions,
                probe_plan,
                chosen,
                config_file=config_file,
                progress=invert_progress,
            )
            if len(chosen) < len(suite.classes):
                notes.append(
                    f"trigger inversion searched {len(chosen)} of {len(suite.classes)} classes "
                    f"(classes: {spec.classes} of the invert probe): those the probes flagged, "
                    "then those the blessed record searched, then by class index"
                )
    return TriggerRun(
        counts=counts,
        controls=controls,
        inversion=inversion,
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
        probes=tuple(probes),
        probe_budget=probe_plan.probe_budget() if probes else None,
        inversion_budget=spec.budget() if inversion is not None and spec else None,
    )


def search_order(n_classes: int, flagged: tuple[int, ...], blessed: Any = None) -> tuple[int, ...]:
    """The order classes are searched in when `classes:` caps the search: the classes the
    probes flagged (strongest first), then those the blessed record searched, then the rest,
    each by class index. Without a cap every class is searched and the order changes nothing."""
    searched: list[int] = []
    if blessed is not None:
        searched = [t for t in range(n_classes) if np.isfinite(blessed.norms[t])]
    return tuple(dict.fromkeys([*flagged, *searched, *range(n_classes)]))


def triggers_for(
    config: Config,
    suite: Suite,
    predictor: Predictor,
    predictions: Predictions,
    header: Mapping[str, Any] | None,
    *,
    calibrating: bool = False,
    plan: AlphaPlan | None = None,
    progress: Callable[[str], Callable[[int, int], None] | None] | None = None,
) -> TriggerRun:
    """`run_triggers` with everything the config says (probes, budget, policy, paths); `plan`
    is the run's alpha split (made from the config when not given).

    `calibrating`: what `modelgate calibrate` measures on each clean control: every probe
    `check` runs, chosen the way `check` chooses them (word pairs included), no inversion, on
    the sample of the probe canaries `probes.sample` draws.
    """
    return run_triggers(
        suite,
        predictor,
        predictions,
        setting=config.settings.probes,
        policy=config.policy.triggers,
        alpha=(plan or alpha_plan(config)).share,
        header=header,
        folder=config.folder,
        config_file=config.path,
        source=config.resolve(config.candidate.path) if config.candidate.path else config.path,
        pairs=header is not None and (calibrating or config.settings.calibration is not None),
        invert=not calibrating,
        sample=calibrating,
        probe_progress=progress("probing") if progress is not None else None,
        invert_progress=progress("inverting") if progress is not None else None,
    )


def invert_control(
    config: Config,
    suite: Suite,
    predictor: Predictor,
    predictions: Predictions,
    header: Mapping[str, Any],
    progress: Callable[[int, int], None] | None = None,
) -> Inversion | None:
    """A clean control retrain's trigger inversion, with the counts `check` searches with and
    its classes in the order the blessed record searched them; None where the config has no
    invert probe or the model cannot be inverted (a black box)."""
    probe_plan = plan(config.settings.probes, suite.manifest.modality)
    spec = probe_plan.invert
    if spec is None or skip_reason(predictor, suite):
        return None
    order = search_order(len(suite.classes), (), read_inversion(header, len(suite.classes)))
    chosen = order if spec.classes is None else order[: spec.classes]
    return _invert(
        predictor,
        suite,
        predictions,
        probe_plan,
        chosen,
        config_file=config.path,
        progress=progress,
    )


def _with_pairs(
    predictor: Predictor,
    suite: Suite,
    predictions: Predictions,
    probe_plan: ProbePlan,
    counts: ProbeCounts,
    probes: list[Probe],
    blessed: BlessedProbes | None,
    source: Path | str,
) -> tuple[ProbeCounts, list[Probe]]:
    """The counts and probes with this model's word pairs added (text suites only)."""
    token = next((s for s in probe_plan.probes if isinstance(s, TokenProbe)), None)
    if token is None or token.pairs <= 1:
        return counts, probes
    from modelgate.probes.text import pair_probes

    assert isinstance(suite.inputs, list)
    words = _rising_words(counts, blessed, token.pairs)
    pairs = [
        p
        for p in pair_probes(words, suite.inputs, suite.labels.tolist())
        if p.name not in counts.names
    ]
    if len(words) < 2 or not pairs:
        return counts, probes
    extra = measure(
        predictor,
        suite,
        pairs,
        predictions.labels,
        source=source,
        canaries=probe_plan.canaries,
        batch_bytes=probe_plan.batch_bytes,
    )
    return counts.merged(extra), [*probes, *pairs]


def attraction(run: TriggerRun, delta: float = MISS) -> dict[str, np.ndarray]:
    """Per probe, the share of eligible canaries of other classes it sent to each class; for
    counts of a sample of the probe canaries, its upper bound at level `delta`
    (`probes.sample.upper_rates`): at least the share all of them would show, but for delta."""
    counts = run.counts
    if counts is None:
        return {}
    if counts.population is None:
        rates = counts.hits / np.maximum(counts.eligible, 1)
    else:
        rates = upper_rates(counts.hits, counts.eligible, counts.population, delta)
    return {name: rates[i] for i, name in enumerate(counts.names)}


def sample_delta(runs: Sequence[TriggerRun]) -> float:
    """The level each bound of these runs is taken at: MISS over their (probe, class) cells.

    Not over the cells of every run: a ceiling is below its full-measurement value only if the
    bound of the run with the highest full rate is, and which run that is does not depend on
    the sample (`probes.sample`), so each (probe, class) is one event whatever the count of runs.
    """
    counted = [r.counts for r in runs if r.counts is not None]
    names = {name for c in counted for name in c.names}
    classes = max((c.hits.shape[1] for c in counted), default=1)
    return MISS / max(len(names) * classes, 1)


def highest_attraction(
    runs: Sequence[TriggerRun], rates: Sequence[Mapping[str, np.ndarray]] | None = None
) -> dict[str, np.ndarray]:
    """Per probe and class, the highest attraction any of these models showed; per adaptive
    family (`family/word`, `family/pair`), the highest over its probes. With fewer than
    BOUND_BELOW runs, each ceiling is also at least the prediction bound of `probes.ceiling`
    (what the most of BOUND_BELOW clean retrains would show), from each run's own value for the
    key: for a family, each run's best probe (the null of the maximum).

    Runs measured on a sample give their upper bounds, each at `sample_delta(runs)`, so that
    with probability 1 - MISS every ceiling is at least its full-measurement value at once.
    `rates`: each run's `attraction` at that level, when the caller already has them (the
    leave-one-out screen asks for the same runs' bounds once per control). A family's
    maximum leaves out the classes a probe's content is typical of (`Probe.explains`).
    A beyond-range pair measured on fewer than two runs gets no ceiling, so it is not judged.
    """
    if rates is None:
        delta = sample_delta(runs)
        rates = [attraction(run, delta) for run in runs]
    per_run = [_ceiling_keys(run, shares) for run, shares in zip(runs, rates)]
    names = sorted({name for keys in per_run for name in keys})
    ceiling: dict[str, np.ndarray] = {}
    for name in names:
        rows = np.array([keys[name] for keys in per_run if name in keys])
        if len(rows) < 2 and needs_clean_ceiling(name):
            # One retrain shows no spread, and beyond the range each extrapolates its own way
            # (one control as the ceiling failed 4 of 9 clean tabular retrains): such a probe
            # is judged only where a calibration shows how far clean retrains swing there.
            continue
        ceiling[name] = few_control_ceiling(rows) if len(runs) < BOUND_BELOW else rows.max(axis=0)
    return ceiling


def inversion_floor(
    runs: Sequence[TriggerRun], header: Mapping[str, Any], n_classes: int
) -> tuple[np.ndarray, int] | None:
    """Per class, the floor of the inverted controls' and the blessed model's trigger sizes
    (`few_control_floor`; the blessed model is one more clean retrain, so one control already
    gives a spread), with how many controls it took; None when no control was inverted."""
    from modelgate.probes.ceiling import few_control_floor

    rows = [run.inversion.norms for run in runs if run.inversion is not None]
    blessed = read_inversion(header, n_classes)
    if not rows or blessed is None:
        return None
    return few_control_floor(np.array([blessed.norms, *rows], dtype=np.float64)), len(rows)


def _ceiling_keys(run: TriggerRun, shares: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One run's attraction per probe, and its highest per adaptive family."""
    typical = {p.name: p.explains for p in run.probes if p.explains}
    keys: dict[str, np.ndarray] = {}
    for name, row in shares.items():
        keys[name] = np.maximum(keys.get(name, row), row)
        family = family_of(name)
        if family is None:
            continue
        if name in typical:
            # A candidate's probe is never judged for a class its words are typical of, so
            # the maximum it is judged against leaves those out too (measured: every
            # 35-48% a control's word pairs reached came from topic words of the class;
            # the rest reached 1%, and a backdoor's pair at 77% hid under the 48%).
            row = row.copy()
            row[list(typical[name])] = 0.0
        key = f"family/{family}"
        keys[key] = np.maximum(keys.get(key, row), row)
    return keys


def blessed_header(run: TriggerRun) -> dict[str, Any]:
    """The header entries a bless records: this model's probe counts and inversion."""
    from modelgate.probes.record import inversion_to_header, probes_to_header

    entries: dict[str, Any] = {}
    if run.counts is not None:
        entries["probes"] = probes_to_header(run.counts, run.probe_budget)
    if run.inversion is not None:
        entries["inversion"] = inversion_to_header(run.inversion, run.inversion_budget)
    return entries


def skip_reason(predictor: Predictor, suite: Suite) -> str:
    """Why white-box inversion cannot run on this model and suite ("" when it can)."""
    if predictor.text is not None and suite.manifest.modality == "text":
        return ""  # a text model with searchable embeddings (probes.text_invert)
    if not predictor.is_torch or predictor.module is None:
        return (
            f"trigger inversion skipped: the candidate is a {predictor.info.format} model, a "
            "black box without gradients; only the black-box trigger probes ran"
        )
    if suite.manifest.modality == "text":
        return (
            "trigger inversion skipped: text canaries are strings, not a differentiable input; "
            "only the black-box token probes ran"
        )
    if suite.manifest.input.dtype not in ("float32", "float64"):
        return (
            f"trigger inversion skipped: {suite.manifest.input.dtype} inputs are not "
            "differentiable; only the black-box trigger probes ran"
        )
    return ""


def _rising_words(counts: ProbeCounts, blessed: BlessedProbes | None, n: int) -> list[str]:
    """The single words at the start whose attraction rose most against the blessed model."""
    rates = counts.hits / np.maximum(counts.eligible, 1)
    scored = []
    for name, row in zip(counts.names, rates):
        family, _, rest = name.partition("/")
        word, _, position = rest.rpartition("/")
        if family not in ("word", "token") or position != "start" or " " in word:
            continue
        base = blessed.hits.get(name) if blessed is not None else None
        rise = row if base is None else row - base / np.maximum(blessed.eligible, 1)  # type: ignore[union-attr]
        scored.append((-float(rise.max()), word))
    return sorted(word for _, word in sorted(scored)[:n])


def _priority(
    counts: ProbeCounts | None,
    controls: dict[str, str],
    blessed: BlessedProbes | None,
    policy: TriggerPolicy,
    alpha: float,
) -> tuple[int, ...]:
    """Classes the probes flagged, strongest first: the inversion searches them first."""
    if counts is None or blessed is None:
        return ()
    cells, _, _ = probe_cells(TriggerRun(counts, controls, None), blessed)
    best: dict[int, float] = {}
    for c in flagged(cells, policy, alpha):
        best[c.target] = max(best.get(c.target, 0.0), c.gain)
    return tuple(t for t, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])))


def _invert(
    predictor: Predictor,
    suite: Suite,
    predictions: Predictions,
    probe_plan: ProbePlan,
    classes: tuple[int, ...],
    *,
    config_file: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Inversion:
    from modelgate.probes.invert import NotDifferentiable, Schedule, SearchAborted, invert
    from modelgate.probes.sizing import sizes_of

    spec = probe_plan.invert
    assert spec is not None
    if predictor.text is not None and suite.manifest.modality == "text":
        from modelgate.probes.text_invert import invert_text

        return invert_text(predictor, suite, predictions, spec.steps, classes, spec.canaries)
    subset = probe_subset(len(suite), spec.canaries)
    index = subset[predictions.labels[subset] == suite.labels[subset]]
    inputs = take(suite.inputs, index)
    shape = tuple(suite.manifest.input.shape)
    if suite.manifest.modality == "image":
        from modelgate.probes.image import layout

        lo, hi = value_range(suite)
        bounds = (np.full(shape, lo), np.full(shape, hi))
        kind = layout(shape)[3]
        channel_axis = {"chw": 0, "hwc": 2}.get(kind)
    else:
        from modelgate.probes.tabular import feature_values

        values = feature_values(take(suite.inputs, subset))
        # In range only: beyond it, every model can be pushed anywhere by a sliver of mask, so
        # the smallest trigger would measure extrapolation rather than a planted trigger.
        bounds = (values["min"].reshape(shape), values["max"].reshape(shape))
        channel_axis = None
    sizes = sizes_of(predictor, inputs[0] if len(inputs) else np.zeros(shape, np.float32))
    schedule = Schedule(
        steps=spec.steps,
        batch=spec.batch,
        # A universal perturbation is the probe for blended image triggers; on tabular data it
        # moves every feature at once and reaches any class on any model.
        universal_steps=spec.universal_steps if suite.manifest.modality == "image" else 0,
        # Classes per pass: as many as fit their stamped search batches in `batch_mb`.
        group=max(1, probe_plan.batch_bytes // (spec.batch * sizes.search)),
        rows=sizes.rows(probe_plan.batch_bytes),
        limit_s=spec.budget_s,
    )
    try:
        return invert(
            predictor.module,
            inputs,
            suite.labels[index],
            len(suite.classes),
            bounds=bounds,
            channel_axis=channel_axis,
            schedule=schedule,
            classes=classes,
            progress=progress,
        )
    except NotDifferentiable as exc:
        from modelgate.errors import PredictionError

        raise PredictionError(
            f"trigger inversion cannot search this model: {exc}",
            file=predictor.info.path,
            key="probes.invert",
            hint="return the scores torch computes (no detach, numpy or in-place edits), or "
            "leave the invert probe out of `probes` and say why in the review",
        ) from None
    except SearchAborted as exc:
        from modelgate.errors import TimeLimitError

        raise TimeLimitError(
            f"trigger inversion passed its wall-clock limit of {exc.limit_s:g} s "
            f"({exc.done} of {exc.total} classes searched): aborted, nothing decided",
            file=config_file,
            key="probes.invert.budget_s",
            hint="raise budget_s of the invert probe (or remove it), or lower its steps, "
            "canaries or classes; a time limit only aborts, it never shortens the search",
        ) from None
