"""`calibrate`: predict and probe clean control retrains, screen them, store their churn.

The controls' probes are most of the cost (a probe phase of a check each): every control is
probed on the seeded two fifths of the probe canaries `probes.sample` draws, and in-process
CPU models are probed side by side, one single-threaded control per core torch was given (a
control's counts then do not depend on how many cores the machine has).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelgate.baseline import read_baseline
from modelgate.config import Config
from modelgate.engine.candidate import Stages, predict_with_model, stage
from modelgate.engine.inputs import display_path
from modelgate.errors import ModelLoadError, UsageError
from modelgate.predict import Predictions
from modelgate.result import CalibrationOutcome, ModelInfo
from modelgate.suite.format import load_suite

if TYPE_CHECKING:
    from modelgate.probes.results import TriggerRun


def calibrate_controls(
    config: Config,
    controls: list[str],
    *,
    progress: Stages | None = None,
    strict: bool = False,
) -> CalibrationOutcome:
    """Predict each clean control retrain and store the churn they show beside the baseline;
    name any control that fails the gate against the others (see engine.screen), and with
    `strict` write nothing when one does."""
    from modelgate.calibration_record import write_calibration
    from modelgate.config import with_candidate_path

    if not config.settings.calibration:
        raise UsageError(
            "the config names no calibration file",
            file=config.path,
            key="calibration",
            hint="add `calibration: baselines/NAME.calibration.json`",
        )
    if not controls:
        raise UsageError("give at least one --control model (clean retrains of the baseline)")
    from modelgate.probes.run import highest_attraction, inversion_floor, triggers_for

    suite = load_suite(config.suite_path)
    baseline = read_baseline(config.baseline_path, suite, config_file=config.path)
    from modelgate.trust import remember_calibration, verify_records

    verify_records(config, suite, baseline, calibration=False)  # never calibrate on a forgery
    from modelgate.probes.budget import refuse_other_budget

    refuse_other_budget(
        config.settings.probes, suite.manifest.modality, baseline.header.triggers, baseline.path
    )
    predicted: list[tuple[Predictions, ModelInfo]] = []
    sources: list[str] = []  # each control as named, to load it again for its inversion
    probe_runs: list[TriggerRun | None] = []
    waiting: list[Callable[[Stages | None], TriggerRun]] = []  # probed side by side below
    seen: dict[str, str] = {}  # a control's weights digest -> its path
    for control in controls:
        control_config = with_candidate_path(config, control)
        with _named_control(control):
            predictions, predictor = predict_with_model(
                control_config, suite, stage(progress, "predicting")
            )
        shown = display_path(Path(predictor.info.path), config.folder)
        _refuse_a_repeat(control, predictor.info.sha256, baseline, seen)
        seen[predictor.info.sha256] = shown
        predicted.append((predictions, replace(predictor.info, path=shown)))
        sources.append(control)

        def probe(
            stages: Stages | None,
            control_config: Config = control_config,
            predictor: Any = predictor,
            predictions: Predictions = predictions,
        ) -> TriggerRun:
            return triggers_for(
                control_config,
                suite,
                predictor,
                predictions,
                baseline.header.triggers,
                calibrating=True,
                progress=stages,
            )

        if _in_process_cpu(predictor):
            probe_runs.append(None)
            waiting.append(probe)
        else:  # a sandboxed or GPU model: probed now, one at a time, and let go
            probe_runs.append(probe(progress))
    done = iter(_side_by_side(waiting, progress))
    runs = [run if run is not None else next(done) for run in probe_runs]
    # By digest: the record's per-control rows line up with its sorted list of controls, and
    # the order of --control arguments changes nothing.
    order = sorted(
        range(len(predicted)), key=lambda i: (predicted[i][1].sha256, predicted[i][1].path)
    )
    predicted = [predicted[i] for i in order]
    runs = [runs[i] for i in order]
    sources = [sources[i] for i in order]
    runs = _invert_controls(config, suite, baseline, sources, predicted, runs, progress)
    from modelgate.engine.screen import suspicious_controls

    suspects = suspicious_controls(suite, baseline, [p for p, _ in predicted], config, runs)
    path = config.resolve(config.settings.calibration)
    refused = strict and bool(suspects)
    floor = inversion_floor(runs, baseline.header.triggers, len(suite.classes))
    if not refused:
        write_calibration(path, suite, baseline, predicted, highest_attraction(runs), floor)
        remember_calibration(config, path)
    return CalibrationOutcome(
        path=path,
        controls=tuple(info.path for _, info in predicted),
        suspects=tuple((predicted[s.index][1].path, s.checks) for s in suspects),
        refused=refused,
        inverted=floor[1] if floor is not None else 0,
    )


def _invert_controls(
    config: Config,
    suite: Any,
    baseline: Any,
    sources: list[str],
    predicted: list[tuple[Predictions, ModelInfo]],
    runs: list[TriggerRun],
    progress: Stages | None,
) -> list[TriggerRun]:
    """Invert the first `probes.invert.controls` controls (by weights digest, so the order of
    --control changes nothing), each loaded again, one at a time, with the check's counts;
    their runs come back with the inversion (the others as they were). Nothing is inverted
    without an invert probe, for a black-box model, or when the blessed record has none."""
    from modelgate.config import with_candidate_path
    from modelgate.engine.candidate import load_model
    from modelgate.probe_settings import plan
    from modelgate.probes.run import invert_control

    spec = plan(config.settings.probes, suite.manifest.modality).invert
    header = baseline.header.triggers
    if spec is None or not spec.controls or not header or header.get("inversion") is None:
        return runs
    runs = list(runs)
    for i, (source, (predictions, info)) in enumerate(zip(sources, predicted)):
        if i >= spec.controls:
            break
        control_config = with_candidate_path(config, source)
        with _named_control(source):
            predictor = load_model(control_config, suite)
        if predictor.info.sha256 != info.sha256:  # loaded again: it may have changed since
            raise ModelLoadError(
                "changed while calibrate ran (its weights digest is not the one predicted)",
                file=source,
                key="--control",
                hint="leave the controls alone until calibrate has finished",
            )
        inversion = invert_control(
            control_config, suite, predictor, predictions, header, stage(progress, "inverting")
        )
        del predictor
        if inversion is not None:
            runs[i] = replace(runs[i], inversion=inversion, inversion_budget=spec.budget())
    return runs


@contextmanager
def _named_control(control: str) -> Iterator[None]:
    """A control that cannot be loaded is named as the --control it is, not as the config's
    candidate (a factory or a setting of the config's own keeps its key)."""
    try:
        yield
    except ModelLoadError as exc:
        if exc.key != "candidate.path":
            raise
        raise ModelLoadError(exc.message, file=control, key="--control", hint=exc.hint) from None


def _refuse_a_repeat(control: Any, sha256: str, baseline: Any, seen: dict[str, str]) -> None:
    """A control must be a retrain of its own: the blessed model again, or one control named
    twice, shows no churn at all and would make the null far too strict (a clean retrain
    would then fail)."""
    if not sha256:  # a callable has no file to digest
        return
    if sha256 == baseline.header.model.sha256:
        again = "the blessed model itself"
    elif sha256 in seen:
        again = f"the same weights as control {seen[sha256]}"
    else:
        return
    raise UsageError(
        f"this control is {again} (sha256 {sha256[:12]}): a control must be a clean retrain",
        file=control,
        key="--control",
        hint="name each clean retrain of the baseline's recipe once",
    )


def _in_process_cpu(predictor: Any) -> bool:
    """A torch module on the CPU in this process: safe to run beside another on its own thread
    (a sandboxed model answers over one pipe; a black box may hold the GIL throughout)."""
    from modelgate.devices import module_device
    from modelgate.models.remote_torch import RemoteModule

    module = predictor.module
    return bool(
        predictor.is_torch
        and module is not None
        and not isinstance(module, RemoteModule)
        and module_device(module) == "cpu"
    )


def _side_by_side(
    jobs: Sequence[Callable[[Stages | None], TriggerRun]], progress: Stages | None
) -> list[TriggerRun]:
    """Run the probe jobs, one per core torch was given, each single-threaded (one thread per
    small forward pass wastes more in hand-offs than it gains); results in the jobs' order.
    One progress counter adds up the probing of every job."""
    import torch

    if not jobs:
        return []
    threads = torch.get_num_threads()
    workers = max(1, min(threads, len(jobs)))
    counter = stage(progress, "probing")
    lock = threading.Lock()
    state: dict[int, tuple[int, int]] = {}

    def stages_for(j: int) -> Stages | None:
        if counter is None:
            return None

        def report(done: int, total: int) -> None:
            with lock:
                state[j] = (done, total)
                assert counter is not None
                counter(sum(d for d, _ in state.values()), sum(t for _, t in state.values()))

        return lambda name: report if name == "probing" else None

    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(job, stages_for(j)) for j, job in enumerate(jobs)]
            return [f.result() for f in futures]
    finally:
        torch.set_num_threads(threads)
