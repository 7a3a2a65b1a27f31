"""The public Python API: what the CLI, the Action and the pytest plugin are built on.

    import modelgate
    result = modelgate.check("modelgate.yaml")            # -> GateResult, reports written
    if result.exit_code: ...                              # 0 passed, 1 findings
    modelgate.bless("modelgate.yaml", reason=None)        # -> BlessOutcome
    modelgate.calibrate("modelgate.yaml", ["ctl1.safetensors", ...])  # -> CalibrationOutcome

Every function raises a `modelgate.errors.ModelgateError` (exit code 2: could not decide) with a
one-line message naming the file and key, and never leaves a report from an earlier run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from modelgate.engine.candidate import Stages
from modelgate.engine.session import CheckRun, ReportRequest, load_check_config, run_check
from modelgate.result import BlessOutcome, CalibrationOutcome, GateResult

__all__ = [
    "BlessOutcome",
    "CalibrationOutcome",
    "CheckRun",
    "GateResult",
    "ReportRequest",
    "bless",
    "calibrate",
    "check",
    "run_check",
]


def check(
    config_path: str | Path,
    candidate: str | Path | None = None,
    *,
    reports: bool = True,
    output_dir: str | Path | None = None,
) -> GateResult:
    """Check the candidate (the config's, or this model file) and write the configured reports
    (into `output_dir` instead of the config's `output.dir` when given; none with
    `reports=False`). Same reports as `modelgate check`."""
    request = ReportRequest(enabled=reports, folder=Path(output_dir) if output_dir else None)
    return run_check(config_path, candidate=candidate, reports=request).result


def bless(
    config_path: str | Path,
    candidate: str | Path | None = None,
    *,
    force: bool = False,
    reason: str | None = None,
    progress: Stages | None = None,
) -> BlessOutcome:
    """Record the candidate as the new baseline; refuses (UsageError) over a failing check
    unless `force` with a `reason`. Same as `modelgate bless`."""
    from modelgate.engine.bless import bless as bless_config

    config = load_check_config(config_path, candidate)
    return bless_config(config, force=force, reason=reason, progress=progress)


def calibrate(
    config_path: str | Path,
    controls: Sequence[str | Path],
    *,
    strict: bool = False,
    progress: Stages | None = None,
) -> CalibrationOutcome:
    """Measure clean control retrains of the baseline's recipe into the config's calibration
    record; names controls the others' churn does not explain. Same as `modelgate calibrate`."""
    from modelgate.engine.calibrate import calibrate_controls

    config = load_check_config(config_path)
    return calibrate_controls(config, [str(c) for c in controls], progress=progress, strict=strict)
