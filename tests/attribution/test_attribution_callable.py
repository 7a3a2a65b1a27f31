"""A black-box text callable that exposes `.features` is attributed like a white-box model:
the one training row that alone flips the protected canary ranks first; features that do not
explain the model's scores, or that are malformed, are refused in one line (exit 2)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("captum")

from attribution_project import cli
from text_callable import CANARY, build_project, documents, train, write_model


def _predict(root: Path, weights: str, mode: str = "honest") -> Any:
    path = write_model(root, mode)
    spec = importlib.util.spec_from_file_location(f"tiny_{mode}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(root / weights)


def test_the_row_that_alone_flips_a_canary_ranks_first(tmp_path: Path) -> None:
    config, poison = build_project(tmp_path)
    texts, labels = documents(80, seed=2)
    np.savez(tmp_path / "without.npz", **train(texts, labels, seed=1))  # type: ignore[arg-type]
    assert _predict(tmp_path, "without.npz")([CANARY]).argmax() == 0  # right without the row
    assert _predict(tmp_path, "candidate.npz")([CANARY]).argmax() == 1  # the row flips it
    done = cli("attribute", "-c", str(config), "--json", "a.json", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads((tmp_path / "a.json").read_text())
    (finding,) = report["findings"]
    assert "flips.protected" in finding["check"]
    top = finding["top_rows"]
    assert top[0]["id"] == f"row-{poison}" and top[0]["source"] == "mallory"
    assert top[0]["share"] > 2 * top[1]["share"]
    assert any("`.features`" in note for note in report["notes"])
    again = cli("attribute", "-c", str(config), "--json", "b.json", cwd=tmp_path)
    assert (tmp_path / "b.json").read_text() == (tmp_path / "a.json").read_text()
    assert again.returncode == done.returncode


@pytest.mark.parametrize(
    ("mode", "needles"),
    [
        ("preact", ["features were refused", "not the input of its final linear layer"]),
        ("nan", ["candidate.npz", "features:", "NaN or infinite"]),
    ],
)
def test_untrue_or_malformed_features_are_one_line_and_exit_2(
    tmp_path: Path, mode: str, needles: list[str]
) -> None:
    config, _ = build_project(tmp_path, mode)
    done = cli("attribute", "-c", str(config), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelgate: error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not (tmp_path / "reports" / "quarantine.csv").exists()
    check = cli("check", "-c", str(config), cwd=tmp_path)  # the verdict stands; a note says why
    assert check.returncode == 1, check.stderr
    result = json.loads((tmp_path / "reports" / "modelgate-report.json").read_text())
    assert any(needles[-1] in note for note in result["notes"]), result["notes"]
