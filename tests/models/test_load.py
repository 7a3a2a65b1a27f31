"""Every loader gives the same predictions for the same weights, and code formats are labelled."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from projects import Project

from modelgate.config import ModelSpec
from modelgate.errors import ModelLoadError
from modelgate.models import load_predictor
from modelgate.predict import predict_suite
from modelgate.suite.format import load_suite

CONFIG = Path("modelgate.yaml")


def _linear() -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(4, 3)


def _predict(project: Project, spec: ModelSpec) -> tuple[np.ndarray, bool, str]:
    predictor = load_predictor(spec, project.root, config_file=CONFIG, key="candidate")
    suite = load_suite(project.root / "suite")
    out = predict_suite(predictor, suite, batch_size=64, source="m")
    return out.log_probs, predictor.info.carries_code, predictor.info.format


@pytest.fixture
def reference(project: Project) -> np.ndarray:
    from safetensors.torch import save_file

    save_file(_linear().state_dict(), str(project.root / "ref.safetensors"))
    logp, code, fmt = _predict(project, ModelSpec(path="ref.safetensors", factory="model.py:build"))
    assert not code and fmt == "state_dict"
    return logp


def test_torch_weights_only_file(project: Project, reference: np.ndarray) -> None:
    torch.save(_linear().state_dict(), project.root / "w.pt")
    logp, code, fmt = _predict(project, ModelSpec(path="w.pt", factory="model.py:build"))
    assert fmt == "state_dict" and not code
    np.testing.assert_allclose(logp, reference, atol=1e-6)


def test_torch_export_archive(project: Project, reference: np.ndarray) -> None:
    program = torch.export.export(
        _linear(), (torch.zeros(2, 4),), dynamic_shapes={"input": {0: torch.export.Dim("batch")}}
    )
    torch.export.save(program, str(project.root / "m.pt2"))
    logp, code, fmt = _predict(project, ModelSpec(path="m.pt2", allow_code=True))
    assert fmt == "export" and code
    np.testing.assert_allclose(logp, reference, atol=1e-6)


def test_torchscript(project: Project, reference: np.ndarray) -> None:
    torch.jit.script(_linear()).save(str(project.root / "m.ts"))
    logp, code, fmt = _predict(project, ModelSpec(path="m.ts", allow_code=True))
    assert fmt == "torchscript" and code
    np.testing.assert_allclose(logp, reference, atol=1e-6)


def test_python_callable_over_raw_inputs(project: Project, reference: np.ndarray) -> None:
    weight = _linear().weight.detach().numpy()
    bias = _linear().bias.detach().numpy()
    np.savez(project.root / "params.npz", weight=weight, bias=bias)
    (project.root / "black_box.py").write_text(
        textwrap.dedent("""
        import numpy as np

        def load(path):
            params = np.load(path, allow_pickle=False)
            return lambda batch: np.asarray(batch) @ params["weight"].T + params["bias"]
    """)
    )
    logp, code, fmt = _predict(
        project, ModelSpec(path="params.npz", callable="black_box.py:load", allow_code=True)
    )
    assert fmt == "callable" and code
    np.testing.assert_allclose(logp, reference, atol=1e-5)


@pytest.mark.parametrize("name", ["m.pt2", "m.ts"])
def test_allow_code_false_refuses_code_formats(project: Project, name: str) -> None:
    (project.root / name).write_bytes(b"never read")
    with pytest.raises(ModelLoadError, match="allow_code"):
        _predict(project, ModelSpec(path=name, allow_code=False))


def test_probabilities_output(project: Project, reference: np.ndarray) -> None:
    (project.root / "probs.py").write_text(
        textwrap.dedent("""
        import torch

        class Probs(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = torch.nn.Linear(4, 3)

            def forward(self, x):
                return torch.softmax(self.inner(x), dim=1)

        def build():
            return Probs()
    """)
    )
    from safetensors.torch import save_file

    save_file(
        {f"inner.{k}": v for k, v in _linear().state_dict().items()},
        str(project.root / "p.safetensors"),
    )
    logp, _, _ = _predict(
        project, ModelSpec(path="p.safetensors", factory="probs.py:build", output="probs")
    )
    np.testing.assert_allclose(logp, reference, atol=1e-4)


def test_a_load_past_its_deadline_is_reported_once(project: Project) -> None:
    """The watchdog's own message, not wrapped again as a loader failure."""
    from safetensors.torch import save_file

    from modelgate.errors import PredictionError

    (project.root / "slow.py").write_text(
        "import time, torch\n\ndef build():\n    time.sleep(2)\n    return torch.nn.Linear(4, 3)\n"
    )
    save_file(_linear().state_dict(), str(project.root / "w.safetensors"))
    spec = ModelSpec(path="w.safetensors", factory="slow.py:build")
    with pytest.raises(PredictionError) as caught:
        load_predictor(spec, project.root, config_file=CONFIG, key="candidate", timeout_s=0.2)
    assert caught.value.key == "inference.timeout_s"
    assert "cannot load" not in str(caught.value) and "PredictionError" not in str(caught.value)
