"""The probes inside the real gate: bless records them, check compares, pictures, notes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from pngs import read_png
from probe_fixtures import K, image_project
from projects import Project

from modelgate.config import load_config
from modelgate.engine.bless import bless
from modelgate.engine.check import run_gate
from modelgate.engine.session import run_check
from modelgate.report import markdown

CALLABLE = textwrap.dedent(
    """
    import numpy as np

    def predict(x):
        x = np.asarray(x, dtype=float)
        return np.stack([3 * x[:, 0], 3 * x[:, 1], 3 * x[:, 2]], axis=1)
    """
)


def test_backdoor_fails_probes_and_inversion_with_pictures(tmp_path: Path) -> None:
    config = image_project(tmp_path)
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
