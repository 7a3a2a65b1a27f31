"""The README's Quickstart, run: the bundled example's clean retrain passes, and the poisoned
and backdoored retrains print the verdict and failed checks the README shows, line for line
(each FAILED line is the check's summary; the findings under it are not compared)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from projects import copy_example

from modelgate.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def quickstart_output(model: str) -> list[str]:
    """The verdict and FAILED lines of the output block after the README's command for `model`."""
    section = README[README.index("## Quickstart") : README.index("## How it works")]
    command = f"--candidate examples/digits/models/{model}.safetensors\n```\n"
    after = section[section.index(command) + len(command) :]  # past the command's block
    block = re.search(r"```\n(.*?)```", after, re.S)
    assert block, model
    return [line for line in block.group(1).splitlines() if re.match(r"modelgate:|FAILED ", line)]


def test_the_clean_retrain_passes(tmp_path: Path) -> None:
    example = copy_example(tmp_path, "clean")
    assert main(["check", "-q", "-c", str(example / "modelgate.yaml"), "--no-reports"]) == 0
    assert "exit 0" in README[README.index("## Quickstart") : README.index("## How it works")]


@pytest.mark.parametrize("model", ["poisoned", "backdoored"])
def test_the_readme_shows_the_real_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str
) -> None:
    example = copy_example(tmp_path, model)
    candidate = str(example / "models" / f"{model}.safetensors")
    argv = ["check", "-c", str(example / "modelgate.yaml"), "--candidate", candidate]
    assert main([*argv, "--no-reports"]) == 1
    printed = capsys.readouterr().out.splitlines()
    real = [line for line in printed if re.match(r"modelgate:|FAILED ", line)]
    assert quickstart_output(model) == real
