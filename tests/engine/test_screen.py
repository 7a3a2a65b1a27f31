"""Screening controls: a poisoned model slipped in among the clean ones is named, clean sets are
left alone, and the record is still written."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from inversion_fixtures import inversion_of
from projects import Project

from modelgate.baseline import read_baseline
from modelgate.cli import main
from modelgate.config import load_config
from modelgate.engine.screen import suspicious_controls
from modelgate.models import load_predictor
from modelgate.probes.record import read_inversion
from modelgate.probes.results import TriggerRun
from modelgate.probes.run import triggers_for
from modelgate.suite.format import load_suite

CLEAN = [(0, 1, 0.2), (1, 2, -0.2), (2, 0, 0.3), (0, 2, -0.1), (1, 0, 0.2)]


def test_a_poisoned_control_is_named(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    paths = project.add_controls([*CLEAN, (0, 1, 2.5)])  # the last one pulls class 0 to 1
    assert main(["calibrate", "-c", str(project.config), "--control", *paths]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("modelgate: warning:")]
    assert len(warnings) == 1, err
    assert "control5.safetensors" in warnings[0] and "against the other 5 controls" in warnings[0]
    record = json.loads((project.root / "calib.json").read_text())
    assert record["calibration"]["n_controls"] == 6  # written all the same: a person decides


def test_a_clean_set_raises_no_warning(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = project.add_controls(CLEAN)
    assert main(["calibrate", "-c", str(project.config), "--control", *paths]) == 0
    assert "warning" not in capsys.readouterr().err


def _probed_baseline(project: Project) -> tuple[Any, Any, Any, TriggerRun]:
    """The project's config, suite and baseline, and the blessed model measured the way
    `calibrate` measures a control (the candidate is the baseline model itself)."""
    config = load_config(project.config)
    suite = load_suite(config.suite_path)
    baseline = read_baseline(config.baseline_path, suite)
    predictor = load_predictor(
        config.candidate, config.folder, config_file=config.path, key="candidate"
    )
    quiet = triggers_for(config, suite, predictor, baseline.predictions, None, calibrating=True)
    return config, suite, baseline, quiet


def test_a_control_with_a_trigger_of_its_own_is_named(project: Project) -> None:
    config, suite, baseline, quiet = _probed_baseline(project)
    base = baseline.predictions
    assert quiet.counts is not None
    # one probe (not saturated on the blessed model) that now sends every eligible canary to
    # the first class: a trigger of its own
    hits = quiet.counts.hits.copy()
    row = quiet.counts.row("feature/0/below")
    hits[row] = 0
    hits[row, 0] = quiet.counts.eligible[0]
    loud = replace(quiet, counts=replace(quiet.counts, hits=hits))
    # no churn at all: only the probes can single a control out; eleven controls, so that each
    # is judged against ten, enough for per-probe ceilings (fewer pool probes of a kind)
    same = [base] * 11
    assert suspicious_controls(suite, baseline, same, config, [quiet] * 11) == []
    runs = [quiet] * 11
    runs[2] = loud
    (suspect,) = suspicious_controls(suite, baseline, same, config, runs)
    assert suspect.index == 2
    (check,) = suspect.checks
    assert check.name == "probes.triggers"
    evidence = dict(check.findings[0].evidence)
    assert evidence["probe"] == "feature/0/below" and evidence["class"] == suite.classes[0]
    assert evidence["attraction_candidate"] == 1.0


def test_an_inverted_control_with_a_tiny_trigger_is_named(project: Project) -> None:
    """A backdoored control among the inverted ones would lower the floor under its own
    trigger: each is judged against the floor of the blessed model and the others."""
    config, suite, baseline, quiet = _probed_baseline(project)
    base = baseline.predictions
    blessed = read_inversion(baseline.header.triggers, len(suite.classes))
    assert blessed is not None and np.isfinite(blessed.norms).all()

    def inverted(norms: np.ndarray) -> TriggerRun:
        inversion = inversion_of(norms, confirm=90, held=100)
        return replace(quiet, inversion=inversion, inversion_budget=blessed.budget)

    runs = [inverted(blessed.norms * f) for f in (1.05, 0.95, 1.1, 0.9, 1.0)]
    same = [base] * len(runs)
    assert suspicious_controls(suite, baseline, same, config, runs) == []
    tiny = blessed.norms.copy()
    tiny[0] *= 0.05
    runs[3] = inverted(tiny)
    (suspect,) = suspicious_controls(suite, baseline, same, config, runs)
    assert suspect.index == 3
    assert [c.name for c in suspect.checks] == ["probes.inversion"]
    assert dict(suspect.checks[0].findings[0].evidence)["class"] == suite.classes[0]


def test_each_sampled_control_is_bounded_once(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelgate.probes.run as run_module

    config = load_config(project.config)
    suite = load_suite(config.suite_path)
    baseline = read_baseline(config.baseline_path, suite)
    predictor = load_predictor(
        config.candidate, config.folder, config_file=config.path, key="candidate"
    )
    quiet = triggers_for(config, suite, predictor, baseline.predictions, None, calibrating=True)
    assert quiet.counts is not None
    # as if measured on a sample: the bound is an exact bisection, the screen's main cost
    sampled = replace(quiet, counts=replace(quiet.counts, population=2 * quiet.counts.eligible))
    runs = [sampled] * 6
    calls: list[float] = []
    real = run_module.attraction

    def counted(run: object, delta: float = run_module.MISS) -> dict[str, object]:
        calls.append(delta)
        return real(run, delta)  # type: ignore[arg-type]

    monkeypatch.setattr(run_module, "attraction", counted)
    same = [baseline.predictions] * 6
    assert suspicious_controls(suite, baseline, same, config, runs) == []
    # one bound per control at the level of five runs' cells, not five per leave-one-out set
    assert calls == [run_module.sample_delta(runs[:5])] * 6


def test_strict_writes_nothing_over_a_suspect(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = project.add_controls([*CLEAN, (0, 1, 2.5)])
    gate = ["calibrate", "-c", str(project.config), "--strict", "--control"]
    assert main([*gate, *paths]) == 1
    assert "not written (--strict)" in capsys.readouterr().err
    assert not (project.root / "calib.json").exists()
    assert main([*gate, *paths[:-1]]) == 0  # the clean ones alone
    assert (project.root / "calib.json").is_file()


def test_too_few_controls_to_screen_is_said(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = project.add_controls(CLEAN[:2])
    assert main(["calibrate", "-c", str(project.config), "--control", *paths]) == 0
    assert "2 control(s) cannot be screened against each other" in capsys.readouterr().err
