"""The tabular example's command writes a calibrated project, as the digits example ships one:
its clean retrain passes against the calibration and its backdoored retrain fails. (The text
example has the same `main`; it trains for a minute and a half, so it is not run here.)"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from modelgate.cli import main as cli_main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_tabular_example_writes_a_calibrated_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location(
        "tabular_example", EXAMPLES / "tabular" / "example.py"
    )
    assert spec and spec.loader
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, example)  # its dataclasses look themselves up
    spec.loader.exec_module(example)
    example.main([str(tmp_path / "project"), "--controls", "3"])
    config = Path(capsys.readouterr().out.strip())
    assert "calibration:" in config.read_text()
    record = json.loads((config.parent / "baselines" / "tabular.calibration.json").read_text())
    assert len(record["controls"]) == 3
    check = ["check", "-q", "-c", str(config), "--no-reports"]
    assert cli_main(check) == 0
    backdoored = str(config.parent / "models" / "backdoored.safetensors")
    assert cli_main([*check, "--candidate", backdoored]) == 1
