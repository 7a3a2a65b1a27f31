"""Everything a run reads before any model runs: config, suite, baseline, waivers, calibration,
verified against their trust anchors."""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from modelgate.analysis.calibration import Calibration
from modelgate.baseline import BaselineRecord, read_baseline
from modelgate.config import Config
from modelgate.errors import CalibrationError
from modelgate.paths import resolved
from modelgate.policy import AlphaPlan, alpha_plan
from modelgate.result import SuiteInfo
from modelgate.suite.format import Suite, load_suite
from modelgate.waivers import Waivers, load_waivers


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def suite_info(suite: Suite) -> SuiteInfo:
    m = suite.manifest
    return SuiteInfo(
        name=m.name,
        version=m.version,
        digest=suite.digest,
        modality=m.modality,
        n_canaries=len(suite),
        classes=tuple(m.classes),
    )


@dataclass(frozen=True)
class Inputs:
    """Everything a check reads, loaded and verified before any model runs."""

    config: Config
    suite: Suite
    baseline: BaselineRecord
    waivers: Waivers
    calibration: Calibration | None = None

    @cached_property
    def plan(self) -> AlphaPlan:
        """The run's split of `policy.alpha` over its tests, made once."""
        return alpha_plan(self.config)


def load_inputs(config: Config, *, other_budget: bool = False) -> Inputs:
    """Read and verify the suite, baseline, waivers and calibration. A baseline whose probe or
    inversion results were measured with other counts than the config's is refused, or, with
    `other_budget` (a forced bless), read without those results."""
    from modelgate.probes.budget import refuse_other_budget

    suite = load_suite(config.suite_path)
    baseline = read_baseline(config.baseline_path, suite, config_file=config.path)
    from modelgate.trust import verify_records  # signatures, ledger, blessed model

    verify_records(config, suite, baseline)
    if other_budget:
        baseline = replace(baseline, header=baseline.header.without_triggers())
    refuse_other_budget(
        config.settings.probes, suite.manifest.modality, baseline.header.triggers, baseline.path
    )
    waivers_path = config.resolve(config.settings.waivers) if config.settings.waivers else None
    waivers = load_waivers(waivers_path, suite.classes, ids=suite.ids)
    calibration = None
    if config.settings.calibration:
        from modelgate.calibration_record import read_calibration

        calibration = read_calibration(config.resolve(config.settings.calibration), baseline)
        if calibration.n_classes != len(suite.classes):
            raise CalibrationError(
                f"made for {calibration.n_classes} classes, the suite has {len(suite.classes)}",
                file=config.settings.calibration,
            )
    return Inputs(
        config=config, suite=suite, baseline=baseline, waivers=waivers, calibration=calibration
    )


def display_path(path: Path, folder: Path) -> str:
    try:
        return str(resolved(path).relative_to(folder))
    except ValueError:
        return str(path)


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
