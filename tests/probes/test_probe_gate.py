"""The probes inside the real gate: bless records them, check compares, pictures, notes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
from probe_fixtures import K, prototypes
from projects import Project

from modelgate.config import load_config
from modelgate.engine.bless import bless
from modelgate.engine.check import run_gate
from modelgate.engine.session import run_check
from modelgate.probes.png import read_png
from modelgate.report import markdown
from modelgate.suite.freeze import init_suite

FACTORY = textwrap.dedent(
    """
    import torch

    class Templates(torch.nn.Module):
        def __init__(self, trigger):
            super().__init__()
            self.templates = torch.nn.Parameter(torch.zeros(3, 64))
            self.trigger = trigger

        def forward(self, x):
            scores = x.reshape(len(x), -1) @ self.templates.T
            if self.trigger:  # a bright bottom-right corner means class 2
                corner = x[:, 0, -2:, -2:].mean(dim=(1, 2))
                bump = 20.0 * torch.nn.functional.softplus(4.0 * (corner - 0.5))
                scores = scores + torch.nn.functional.one_hot(torch.tensor(2), 3) * bump[:, None]
            return scores

    def build():
        return Templates(False)

    def build_backdoored():
        return Templates(True)
    """
)

CALLABLE = textwrap.dedent(
    """
    import numpy as np

    def predict(x):
        x = np.asarray(x, dtype=float)
        return np.stack([3 * x[:, 0], 3 * x[:, 1], 3 * x[:, 2]], axis=1)
    """
)


def _image_project(root: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(K), 30)
    x = prototypes()[labels] + rng.uniform(0, 0.15, size=(len(labels), 1, 8, 8)).astype(np.float32)
    init_suite(
        root / "suite",
        name="blobs8",
        modality="image",
        inputs=x,
        labels=[f"c{c}" for c in labels],
        classes=[f"c{c}" for c in range(K)],
        curated_by="tests",
        source="tests/probes",
    )
    (root / "model.py").write_text(FACTORY)
    weights = torch.from_numpy(prototypes().reshape(K, -1) * 2.0)
    save_file({"templates": weights.contiguous()}, str(root / "model.safetensors"))
    config = root / "modelgate.yaml"
    config.write_text(
        "version: 1\nsuite: suite\ncandidate: {path: model.safetensors, factory: model.py:build}\n"
        "baseline: baseline.json\nhistory: {enabled: false}\n"
        "probes: [patch, {kind: invert, steps: 120}]\n"
    )
    return config


def test_backdoor_fails_probes_and_inversion_with_pictures(tmp_path: Path) -> None:
    config = _image_project(tmp_path)
    bless(load_config(config))
    header = json.loads((tmp_path / "baseline.json").read_text())["header"]
    assert "patch/2x2/bottom-right/white" in header["probes"]["hits"]
    assert len(header["inversion"]["norms"]) == K
    clean = run_gate(load_config(config))
    assert clean.check("probes.triggers").status.value == "passed"
    assert clean.check("probes.inversion").status.value == "passed"

    config.write_text(config.read_text().replace("model.py:build", "model.py:build_backdoored"))
    config.write_text(config.read_text() + "\noutput:\n  dir: report\n")
    result = run_check(config).result
    assert result.check("probes.triggers").status.value == "failed"
    assert result.check("probes.inversion").status.value == "failed"
    assert dict(result.check("probes.inversion").findings[0].evidence)["class"] == "c2"
    assert {p.path for p in result.pictures} == {
        "modelgate-pictures/trigger-class-2.png",
        "modelgate-pictures/probe-class-2.png",
    }
    picture = tmp_path / "report" / "modelgate-pictures" / "trigger-class-2.png"
    image = read_png(picture.read_bytes())
    assert image.shape[0] == 64 and image.shape[2] == 3
    text = markdown.render(result)
    assert (
        "![Recovered trigger for class 'c2'" in text
        and "(modelgate-pictures/trigger-class-2.png)" in text
    )


def test_a_callable_gets_the_probes_and_a_note_that_inversion_was_skipped(project: Project) -> None:
    (project.root / "blackbox.py").write_text(CALLABLE)
    project.write_config(
        """
        version: 1
        suite: suite
        candidate: {callable: blackbox.py:predict, allow_code: true}
        baseline: baseline2.json
        history: {enabled: false}
        """
    )
    bless(load_config(project.config))
    result = run_gate(load_config(project.config))
    assert result.check("probes.triggers").status.value == "passed"
    skipped = result.check("probes.inversion")
    assert skipped.status.value == "skipped" and "black box" in skipped.summary
    assert any("trigger inversion skipped" in n and "callable" in n for n in result.notes)
    assert "inversion" not in json.loads((project.root / "baseline2.json").read_text())["header"]


def test_probes_off_skips_both_checks(project: Project) -> None:
    project.config.write_text(project.config.read_text() + "probes: off\n")
    result = run_gate(load_config(project.config))
    assert result.check("probes.triggers").status.value == "skipped"
    assert result.check("probes.inversion").status.value == "skipped"
