"""The calibration record: clean churn measured on control retrains, stored beside the baseline.

It is tied to one baseline by digest: a record made for another baseline is refused, since the
churn it measured is churn around that other model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from modelgate.analysis.calibration import Calibration, calibrate
from modelgate.atomic import write_text_atomic
from modelgate.baseline import BaselineRecord
from modelgate.errors import CalibrationError
from modelgate.jsonfile import read_record
from modelgate.predict import Predictions
from modelgate.result import ModelInfo
from modelgate.suite.format import Suite


def write_calibration(
    path: Path,
    suite: Suite,
    baseline: BaselineRecord,
    controls: list[tuple[Predictions, ModelInfo]],
    probe_max: Mapping[str, np.ndarray] | None = None,
    inversion_floor: tuple[np.ndarray, int] | None = None,
) -> Calibration:
    """Fit the churn null on the controls' predictions and write it, with what it is tied to.

    `probe_max`: per trigger probe, the highest attraction per class over the controls.
    `inversion_floor`: per class, the inverted controls' floor of trigger sizes, and how many
    were inverted.
    """
    calibration = calibrate(
        suite.labels,
        baseline.predictions.labels,
        baseline.predictions.log_probs,
        [(p.labels, p.log_probs) for p, _ in controls],
    )
    if probe_max:
        calibration = replace(
            calibration,
            probe_max=tuple(
                (name, tuple(float(v) for v in rates)) for name, rates in sorted(probe_max.items())
            ),
        )
    calibration = calibration.with_floor(inversion_floor)
    record = {
        "baseline_sha256": baseline.sha256,
        "suite_digest": suite.digest,
        "controls": sorted(
            ({"path": info.path, "sha256": info.sha256} for _, info in controls),
            key=lambda c: c["sha256"],
        ),
        "calibration": calibration.to_dict(),
    }
    write_text_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return calibration


def read_calibration(path: Path, baseline: BaselineRecord) -> Calibration:
    """Read a record and refuse one made for another baseline."""
    record = read_record(
        path,
        CalibrationError,
        what="calibration record",
        key="calibration",
        hint="run `modelgate calibrate --control ...`",
    )
    if "calibration" not in record:
        raise CalibrationError("not a modelgate calibration record", file=path, key="calibration")
    if record.get("baseline_sha256") != baseline.sha256:
        raise CalibrationError(
            "made for another baseline record (digest mismatch)",
            file=path,
            key="baseline_sha256",
            hint="re-run `modelgate calibrate` after every bless",
        )
    if record.get("suite_digest") != baseline.suite_digest:  # the baseline's own suite
        raise CalibrationError(
            "made on another suite than the baseline's (digest mismatch)",
            file=path,
            key="suite_digest",
            hint="re-run `modelgate calibrate` after every bless",
        )
    try:
        return Calibration.from_dict(record["calibration"])
    except CalibrationError as exc:
        raise CalibrationError(
            exc.message, file=path, key=f"calibration.{exc.key or ''}".rstrip("."), hint=exc.hint
        ) from None
