"""A callable's `.features` (its opt-in to attribution) crosses the sandbox like its scores: a
batch out, a checked (N, D) float64 array back. A model that answers with the wrong shape, NaN,
a huge array or an exception is a one-line PredictionError naming the model file and key, also
when it disables the child's own check; the text example's features reproduce its logits."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from test_sandbox import linux_only

from modelgate.config import ModelSpec
from modelgate.errors import PredictionError
from modelgate.models import load_predictor

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["one two", "three", "four five six"]

MODEL = textwrap.dedent(
    """
    import numpy as np

    def load(path):
        {prelude}
        def score(texts):
            return np.zeros((len(texts), 2))

        def features(texts):
            n = len(texts)
            {body}

        score.features = features
        return score
    """
)

BYPASS = (  # the model's code runs in the child: it can replace the child's own check
    "import modelgate.models.features as c; "
    "c.checked_features = lambda raw, n, source, key='': np.asarray(raw)\n"
)
CASES = [
    ("return np.ones((n, 3))", None),
    ("return np.ones((n - 1, 3))", "shape (2, 3)"),
    ("return np.ones(n)", "shape (3,)"),
    ("return np.ones((n, 0))", "shape (3, 0)"),
    ("return np.ones((n, 5000))", "1 <= D <= 4096"),
    ("x = np.ones((n, 3)); x[1, 2] = np.nan; return x", "NaN or infinite (row 1"),
    ("return 'features'", "not a numeric array"),
    ("return [[1.0, 2.0], [3.0]]", "not a numeric array"),
    ("raise RuntimeError('no features today')", "no features today"),
]
SANDBOX_ONLY = [
    (BYPASS + "return np.zeros((n, 100000))", "computing features: the model sent arrays of"),
    (BYPASS + "x = np.ones((n, 3)); x[0, 0] = np.inf; return x", "NaN or infinite (row 0"),
    (BYPASS + "return np.ones((n + 2, 3))", "shape (5, 3)"),
]


def _load(root: Path, body: str, sandbox: bool) -> object:
    (root / "w.npz").write_bytes(b"")
    prelude, _, body = body.rpartition("\n")
    (root / "m.py").write_text(MODEL.replace("{prelude}", prelude).replace("{body}", body))
    spec = ModelSpec.model_validate(
        {"path": "w.npz", "callable": "m.py:load", "allow_code": True,
         "sandbox": {"enabled": sandbox}}
    )  # fmt: skip
    return load_predictor(
        spec, root, config_file=root / "modelgate.yaml", key="candidate", timeout_s=60
    )


def _features_fail(root: Path, body: str, sandbox: bool, needle: str | None) -> None:
    predictor = _load(root, body, sandbox)
    features = predictor.score.features  # type: ignore[attr-defined]
    if needle is None:
        out = features(TEXTS)
        assert out.dtype == np.float64 and out.shape == (3, 3)
        return
    with pytest.raises(PredictionError) as caught:
        features(TEXTS)
    line = caught.value.one_line()
    assert "\n" not in line and "w.npz" in line and needle in line, line
    key = caught.value.key or ""
    assert key in ("features", "candidate"), key


@linux_only
@pytest.mark.parametrize(("body", "needle"), CASES + SANDBOX_ONLY)
def test_sandboxed_features_are_checked(tmp_path: Path, body: str, needle: str | None) -> None:
    _features_fail(tmp_path, body, True, needle)


@pytest.mark.parametrize(("body", "needle"), CASES)
def test_in_process_features_are_checked(tmp_path: Path, body: str, needle: str | None) -> None:
    _features_fail(tmp_path, body, False, needle)


def test_a_callable_without_features_offers_none(tmp_path: Path) -> None:
    (tmp_path / "w.npz").write_bytes(b"")
    (tmp_path / "m.py").write_text(
        "import numpy as np\n\ndef load(path):\n    return lambda t: np.zeros((len(t), 2))\n"
    )
    spec = ModelSpec(path="w.npz", callable="m.py:load", allow_code=True)
    predictor = load_predictor(spec, tmp_path, config_file=tmp_path / "c.yaml", key="candidate")
    assert getattr(predictor.score, "features", None) is None


def _text_model() -> object:
    spec = importlib.util.spec_from_file_location("text_model", ROOT / "examples/text/model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_text_examples_features_reproduce_its_predictions(tmp_path: Path) -> None:
    """Its predictions are the formula they were before `.features` existed, bit for bit, and
    its final layer maps its features to them."""
    import json

    from safetensors.torch import save_file

    text = _text_model()
    vocab = ["alpha", "beta", "gamma", "delta", "eps"]
    torch.manual_seed(0)
    model = text.build(len(vocab))  # type: ignore[attr-defined]
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "m.safetensors"), metadata={"vocabulary": json.dumps(vocab)})
    predict = text.load(tmp_path / "m.safetensors")  # type: ignore[attr-defined]
    texts = ["alpha beta", "gamma gamma delta eps", "unknown words only", "eps"]
    ids = text.featurise(texts, {w: i for i, w in enumerate(vocab)})  # type: ignore[attr-defined]
    with torch.no_grad():  # the forward pass as it was written before
        e = model.embed(ids)
        mask = (ids != model.pad)[..., None]
        mean = (e * mask).sum(1) / mask.sum(1).clamp_min(1)
        top = torch.where(mask, e, torch.full_like(e, -1e4)).max(1).values
        top = torch.where(mask.any(1), top, torch.zeros_like(top))
        before = model.out(torch.relu(torch.cat([mean, top], dim=1))).numpy()
    assert np.array_equal(predict(texts), before)
    h = predict.features(texts)
    assert h.shape == (4, 64)
    w, b = state["out.weight"].numpy(), state["out.bias"].numpy()
    assert np.allclose(h @ w.T + b, before, atol=1e-5)
