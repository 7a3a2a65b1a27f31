"""`calibrate`: predict and probe clean control retrains, screen them, store their churn."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from modelgate.baseline import read_baseline
from modelgate.config import Config
from modelgate.engine.candidate import Stages, predict_with_model, stage
from modelgate.engine.inputs import display_path
from modelgate.errors import UsageError
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
    from modelgate.probes.run import highest_attraction, triggers_for

    suite = load_suite(config.suite_path)
    baseline = read_baseline(config.baseline_path, suite, config_file=config.path)
    from modelgate.trust import remember_calibration, verify_records

    verify_records(config, suite, baseline, calibration=False)  # never calibrate on a forgery
    from modelgate.probes.budget import refuse_other_budget

    refuse_other_budget(
        config.settings.probes, suite.manifest.modality, baseline.header.triggers, baseline.path
    )
    predicted: list[tuple[Predictions, ModelInfo]] = []
    probe_runs: list[TriggerRun] = []
    for control in controls:
        control_config = with_candidate_path(config, control)
        predictions, predictor = predict_with_model(
            control_config, suite, stage(progress, "predicting")
        )
        shown = display_path(Path(predictor.info.path), config.folder)
        predicted.append((predictions, replace(predictor.info, path=shown)))
        probe_runs.append(
            triggers_for(
                control_config,
                suite,
                predictor,
                predictions,
                baseline.header.triggers,
                calibrating=True,
                progress=progress,
            )
        )
    # By digest: the record's per-control rows line up with its sorted list of controls, and
    # the order of --control arguments changes nothing.
    order = sorted(
        range(len(predicted)), key=lambda i: (predicted[i][1].sha256, predicted[i][1].path)
    )
    predicted = [predicted[i] for i in order]
    probe_runs = [probe_runs[i] for i in order]
    from modelgate.engine.screen import suspicious_controls

    suspects = suspicious_controls(suite, baseline, [p for p, _ in predicted], config, probe_runs)
    path = config.resolve(config.settings.calibration)
    refused = strict and bool(suspects)
    if not refused:
        write_calibration(path, suite, baseline, predicted, highest_attraction(probe_runs))
        remember_calibration(config, path)
    return CalibrationOutcome(
        path=path,
        controls=tuple(info.path for _, info in predicted),
        suspects=tuple((predicted[s.index][1].path, s.checks) for s in suspects),
        refused=refused,
    )
