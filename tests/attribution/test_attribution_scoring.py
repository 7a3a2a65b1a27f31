"""TracIn scoring on tiny models where the answer is known by construction: the one training
row that alone flips a canary ranks first; formats without weights are not white-box."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

from modelgate.attribution.manifest import load_training_data, write_training_data  # noqa: E402
from modelgate.attribution.result import Behaviour  # noqa: E402
from modelgate.attribution.scoring import (  # noqa: E402
    NotWhiteBox,
    influence_shares,
    scorer_for,
)

CLASSES = ("a", "b")


@dataclass(frozen=True)
class _Info:
    format: str
    path: str = "model.npz"


@dataclass(frozen=True)
class _Predictor:
    info: _Info
    module: Any
    output: str = "logits"
    score: Any = None


def _mlp() -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))


def _train(x: np.ndarray, y: np.ndarray) -> Any:
    torch.set_num_threads(1)
    model = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(800):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval()


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class a around (-2, 0), class b around (2, 0); the canary sits far out on a's side."""
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    x = np.stack([np.where(y == 0, -2.0, 2.0), np.zeros(60)], 1) + rng.normal(0, 0.4, (60, 2))
    canary = np.array([[-2.0, 4.0]], dtype=np.float32)
    return x.astype(np.float32), y.astype(np.int64), canary


def test_the_row_that_alone_flips_a_canary_ranks_first(tmp_path: Path) -> None:
    x, y, canary = _data()
    clean = _train(x, y)
    assert clean(torch.from_numpy(canary)).argmax(1).item() == 0  # right without the row
    x_poison = np.concatenate([x, canary + np.float32(0.05)])
    y_poison = np.concatenate([y, [1]])
    model = _train(x_poison, y_poison)
    assert model(torch.from_numpy(canary)).argmax(1).item() == 1  # the row alone flips it
    folder = write_training_data(
        tmp_path / "train", name="t", modality="tabular", inputs=x_poison,
        labels=[CLASSES[c] for c in y_poison], sources=["s"] * len(y_poison), classes=CLASSES,
    )  # fmt: skip
    data = load_training_data(folder, CLASSES)
    scorer = scorer_for(_Predictor(_Info("state_dict"), model), [canary], 2)
    assert scorer.layer is model[2]
    behaviour = Behaviour("stats.reversal", "1 canary", ("c",), canary, np.array([1]))
    positions = np.arange(len(data))
    shares = influence_shares(scorer, data, positions, behaviour, batch_size=16)
    assert int(np.argmax(shares)) == len(y_poison) - 1
    assert shares.sum() == pytest.approx(1.0)
    again = influence_shares(scorer, data, positions, behaviour, batch_size=7)
    assert np.allclose(shares, again, atol=1e-9)  # batching changes nothing


def test_the_final_layer_is_found_behind_a_softmax() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2), torch.nn.Softmax(1))
    sample = np.zeros((2, 3), np.float32)
    scorer = scorer_for(_Predictor(_Info("state_dict"), model, "probs"), [sample], 2)
    assert scorer.layer is model[1]


@pytest.mark.parametrize("fmt", ["onnx", "callable", "export", "torchscript", "skops"])
def test_formats_without_weights_are_not_white_box(fmt: str) -> None:
    with pytest.raises(NotWhiteBox, match="not white-box"):
        scorer_for(_Predictor(_Info(fmt), _mlp()), [np.zeros((2, 2), np.float32)], 2)


def test_a_model_without_a_linear_head_is_refused() -> None:
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 1), torch.nn.Flatten())
    with pytest.raises(NotWhiteBox, match="no final linear layer"):
        scorer_for(_Predictor(_Info("state_dict"), model), [np.zeros((2, 1, 1), np.float32)], 2)


def test_rows_that_taught_a_trigger_rank_first(tmp_path: Path) -> None:
    """A third feature set to 4 on 10 of class a's rows, labelled b: a backdoor. Stamped canaries
    of class a go to b; the 10 stamped rows carry the trigger's influence."""
    rng = np.random.default_rng(1)
    y = np.arange(200) % 2
    x = np.zeros((200, 3), dtype=np.float32)
    x[:, 0] = np.where(y == 0, -2.0, 2.0) + rng.normal(0, 0.5, 200)
    x[:, 1] = rng.normal(0, 0.5, 200)
    poison = np.flatnonzero(y == 0)[:10]
    x[poison, 2], y[poison] = 4.0, 1
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(600):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(
            model(torch.from_numpy(x)), torch.from_numpy(y)
        ).backward()
        opt.step()
    clean = np.stack([rng.normal(-2, 0.5, 16), rng.normal(0, 0.5, 16), np.zeros(16)], 1)
    clean = clean.astype(np.float32)
    stamped = clean.copy()
    stamped[:, 2] = 4.0
    assert (model(torch.from_numpy(stamped)).argmax(1) == 1).float().mean() > 0.9
    folder = write_training_data(
        tmp_path / "train", name="t", modality="tabular", inputs=x,
        labels=[CLASSES[c] for c in y], sources=["s"] * 200, classes=CLASSES,
    )  # fmt: skip
    data = load_training_data(folder, CLASSES)
    scorer = scorer_for(_Predictor(_Info("state_dict"), model.eval()), [stamped], 2)
    behaviour = Behaviour("probes.triggers", "16 stamped", ("c",) * 16, stamped,
                          np.ones(16, dtype=np.int64), reference=clean)  # fmt: skip
    shares = influence_shares(scorer, data, np.arange(200), behaviour, batch_size=32)
    top = set(np.argsort(-shares)[:10].tolist())
    assert len(top & set(poison.tolist())) >= 9
    assert shares.sum() == pytest.approx(1.0)


def _callable_of(model: Any, output: str = "logits") -> _Predictor:
    """The same model as a black-box callable exposing the input of its final layer."""

    def score(batch: Any) -> np.ndarray:
        with torch.no_grad():
            out = model(torch.from_numpy(np.asarray(batch)))
        return (torch.softmax(out, 1) if output == "probs" else out).double().numpy()

    def features(batch: Any) -> np.ndarray:
        with torch.no_grad():
            return model[:-1](torch.from_numpy(np.asarray(batch))).double().numpy()

    score.features = features  # type: ignore[attr-defined]
    return _Predictor(_Info("callable"), None, output, score)


@pytest.mark.parametrize("output", ["logits", "probs"])
def test_a_callable_with_features_scores_as_its_weights_do(tmp_path: Path, output: str) -> None:
    """One implementation: the fitted final layer of a callable gives the state dict's shares,
    flips (TracIn) and triggers alike; probabilities fit as well as logits."""
    x, y, canary = _data()
    x_poison, y_poison = np.concatenate([x, canary + np.float32(0.05)]), np.concatenate([y, [1]])
    model = _train(x_poison, y_poison)
    folder = write_training_data(
        tmp_path / "train", name="t", modality="tabular", inputs=x_poison,
        labels=[CLASSES[c] for c in y_poison], sources=["s"] * len(y_poison), classes=CLASSES,
    )  # fmt: skip
    data = load_training_data(folder, CLASSES)
    positions = np.arange(len(data))
    flips = Behaviour("stats.reversal", "1 canary", ("c",), canary, np.array([1]))
    stamped = x[y == 0][:8] + np.float32([0.0, 3.0])
    trigger = Behaviour("probes.triggers", "8 stamped", ("c",) * 8, stamped,
                        np.ones(8, dtype=np.int64), reference=x[y == 0][:8])  # fmt: skip
    white = scorer_for(_Predictor(_Info("state_dict"), model), [canary], 2)
    black = scorer_for(_callable_of(model, output), [canary, stamped], 2, lambda: x_poison)
    assert black.kind == "callable features"
    for behaviour in (flips, trigger):
        a = influence_shares(white, data, positions, behaviour, batch_size=16)
        b = influence_shares(black, data, positions, behaviour, batch_size=16)
        # float32 module against float64 features: rows the model fits to 1e-7 differ most
        assert np.allclose(a, b, atol=1e-3), np.abs(a - b).max()
        assert np.argsort(-a)[:5].tolist() == np.argsort(-b)[:5].tolist()
        assert b.sum() == pytest.approx(1.0)


def test_features_that_are_not_the_last_layers_input_are_refused() -> None:
    x, y, _ = _data()
    model = _train(x, y)
    liar = _callable_of(model)

    def before_the_relu(batch: Any) -> np.ndarray:  # not linear in what the last layer sees
        with torch.no_grad():
            return model[0](torch.from_numpy(np.asarray(batch))).double().numpy()

    liar.score.features = before_the_relu
    with pytest.raises(NotWhiteBox, match="at least 66 are needed"):  # 32 features, 64 rows
        scorer_for(liar, [x[:4]], 2, lambda: x)
    with pytest.raises(NotWhiteBox, match="not the input of its final linear layer"):
        scorer_for(liar, [x[:4]], 2, lambda: np.concatenate([x, x + 0.5]))
    plain = _Predictor(_Info("callable"), None, "logits", lambda batch: np.zeros((len(batch), 2)))
    with pytest.raises(NotWhiteBox, match=r"opts in by giving .* `\.features\(batch\)`"):
        scorer_for(plain, [x[:4]], 2)
