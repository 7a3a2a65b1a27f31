"""`format: onnx`: an ONNX export of a tiny torch model, blessed and checked through the CLI."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from formats import cli, failed_checks, report, tabular_suite, write_config
from projects import linear_weights

pytest.importorskip("onnxruntime")

CANDIDATE = """
path: model.onnx
"""


def export_onnx(
    path: Path, shift: tuple[int, int, float] | None = None, batch: bool = True
) -> None:
    model = torch.nn.Linear(4, 3)
    model.load_state_dict(linear_weights(shift))  # type: ignore[arg-type]
    axes = {"x": {0: "batch"}} if batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            model,
            (torch.zeros(2, 4),),
            str(path),
            dynamo=False,
            input_names=["x"],
            dynamic_axes=axes,
        )


@pytest.fixture
def onnx_project(tmp_path: Path) -> Path:
    tabular_suite(tmp_path)
    export_onnx(tmp_path / "model.onnx")
    config = write_config(tmp_path, CANDIDATE)
    done = cli(config, "bless")
    assert done.code == 0, done.text
    return config


def test_onnx_model_passes_against_its_own_blessing(onnx_project: Path) -> None:
    done = cli(onnx_project, "check")
    assert done.code == 0, done.text
    model = report(onnx_project.parent)["candidate"]
    assert isinstance(model, dict)
    assert model["format"] == "onnx" and model["carries_code"] is False
    assert model["ran"] == "in-process" and len(model["sha256"]) == 64


def test_label_flipped_onnx_retrain_fails(onnx_project: Path) -> None:
    export_onnx(onnx_project.parent / "model.onnx", shift=(0, 1, 6.0))  # cat answers dog
    done = cli(onnx_project, "check")
    assert done.code == 1, done.text
    assert "accuracy" in failed_checks(onnx_project.parent)


def test_fixed_batch_graph_is_fed_in_chunks(tmp_path: Path) -> None:
    from modelgate.config import ModelSpec
    from modelgate.models import load_predictor

    export_onnx(tmp_path / "fixed.onnx", batch=False)  # exported for batches of exactly 2
    predictor = load_predictor(
        ModelSpec(path="fixed.onnx"), tmp_path, config_file=tmp_path / "c.yaml", key="candidate"
    )
    x = np.eye(4, dtype=np.float32)[:3]
    assert predictor.score(x).shape == (3, 3)


def test_not_an_onnx_file_is_refused(tmp_path: Path) -> None:
    from modelgate.config import ModelSpec
    from modelgate.errors import ModelLoadError
    from modelgate.models import load_predictor

    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelLoadError, match="cannot load the ONNX graph"):
        load_predictor(
            ModelSpec(path="bad.onnx"), tmp_path, config_file=tmp_path / "c.yaml", key="candidate"
        )
