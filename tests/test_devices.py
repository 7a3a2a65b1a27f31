"""`inference.device`: cpu, cuda or auto; the device in the report; the CPU's verdict anywhere."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from projects import Project

from modelgate.config import load_config
from modelgate.devices import resolve
from modelgate.engine.check import run_gate
from modelgate.errors import ConfigError
from modelgate.report import json as json_report
from modelgate.report import junit, markdown


def _with_device(project: Project, device: str) -> Path:
    text = project.config.read_text()
    project.config.write_text(text + f"inference: {{device: {device}}}\n")
    return project.config


def test_auto_without_a_gpu_is_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve("cpu") == resolve("auto") == "cpu"
    with pytest.raises(ConfigError) as info:
        resolve("cuda")
    assert info.value.key == "inference.device" and "auto" in (info.value.hint or "")


def test_the_device_is_in_every_report_and_changes_nothing_else(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    plain = run_gate(load_config(project.config))
    auto = run_gate(load_config(_with_device(project, "auto")))
    assert plain.candidate.device == auto.candidate.device == "cpu"
    assert json.loads(json_report.render(auto))["candidate"]["device"] == "cpu"
    assert "| Candidate device | cpu |" in markdown.render(auto)
    assert 'name="candidate.device" value="cpu"' in junit.render(auto)
    same = dataclasses.replace(
        auto, config_sha256=plain.config_sha256, started_at="", finished_at=""
    )
    assert json_report.render(same) == json_report.render(
        dataclasses.replace(plain, started_at="", finished_at="")
    )


def test_cuda_on_a_machine_without_one_is_undecided(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as info:
        run_gate(load_config(_with_device(project, "cuda")))
    assert info.value.exit_code == 2 and info.value.key == "inference.device"


def test_an_unknown_device_is_a_config_error(project: Project) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_with_device(project, "tpu"))
    assert info.value.key == "inference.device"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_the_verdict_and_every_check_are_the_cpus(project: Project) -> None:
    cpu = run_gate(load_config(project.config))
    gpu = run_gate(load_config(_with_device(project, "cuda")))
    assert gpu.candidate.device == "cuda"
    assert gpu.verdict == cpu.verdict
    assert [(c.name, c.status) for c in gpu.checks] == [(c.name, c.status) for c in cpu.checks]
    assert [f.id for f in gpu.flips] == [f.id for f in cpu.flips]
