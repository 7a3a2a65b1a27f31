"""A tiny text classifier run as a black-box callable (numpy only, so its sandbox starts fast):
bag of words -> 8 tanh units -> 2 classes, weights trained here with torch and saved as `.npz`
(read with allow_pickle=False). `MODE` says what its `.features` returns: the true input of its
final layer (`honest`), or one of the ways a broken or lying model answers.

The suite and training set are built so that one training row alone flips the protected
canary: the canary carries a word (`zeta`) no other document has, and the poisoned retrain saw
one near-copy of the canary with the other label.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from attribution_project import cli

from modelgate.attribution.manifest import write_training_data
from modelgate.suite.freeze import init_suite

CLASSES = ("a", "b")
WORDS = {"a": ("apple", "amber", "arrow", "atlas", "aspen", "azure"),
         "b": ("birch", "bison", "brook", "baker", "blaze", "bloom")}  # fmt: skip
FILLER = ("the", "of", "and", "some")
CANARY = "apple amber arrow zeta"  # the protected canary; `zeta` is in no other document
POISON = "apple amber zeta"  # the one poisoned training row (a near-copy), labelled b

MODEL = """
import numpy as np

MODE = "{mode}"


def load(path):
    w = np.load(path, allow_pickle=False)
    vocab = [str(t) for t in w["vocab"]]
    index = {{t: i for i, t in enumerate(vocab)}}

    def bag(texts):
        x = np.zeros((len(texts), len(vocab)))
        for r, text in enumerate(texts):
            for word in text.split():
                if word in index:
                    x[r, index[word]] += 1.0
        return x

    def pre(texts):
        return bag(texts) @ w["v"] + w["c"]

    def predict(texts):
        return np.tanh(pre(texts)) @ w["w"] + w["b"]

    def features(texts):
        h = np.tanh(pre(texts))
        if MODE == "honest":
            return h
        if MODE == "preact":  # a lie: the layer before the tanh
            return pre(texts)
        if MODE == "rows":
            return h[:-1]
        if MODE == "flat":
            return h.ravel()
        if MODE == "nan":
            h[0, 0] = np.nan
            return h
        if MODE == "wide":
            return np.zeros((len(texts), 5000))
        if MODE == "words":
            return "not an array"
        if MODE == "raises":
            raise RuntimeError("no features today")
        if MODE.startswith("bypass"):  # patch the sandbox child's own check, then lie
            import modelgate.models.features as checks

            checks.checked_features = lambda raw, n, source, key="": np.asarray(raw)
            if MODE == "bypass-wide":
                return np.zeros((len(texts), 5000))
            h[0, 0] = np.inf
            return h
        raise AssertionError(MODE)

    predict.features = features
    return predict
"""


def documents(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """`n` documents, alternating classes: three words of the class, one filler word."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    texts = []
    for y in labels:
        words = [*rng.choice(WORDS[CLASSES[y]], size=3, replace=False), rng.choice(FILLER)]
        texts.append(" ".join(str(w) for w in rng.permutation(words)))
    return texts, labels.astype(np.int64)


def vocabulary() -> list[str]:
    return [*WORDS["a"], *WORDS["b"], *FILLER, "zeta"]


def train(texts: list[str], labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The MLP's weights (float64 numpy) after full-batch Adam, one thread, seeded."""
    import torch

    vocab = vocabulary()
    index = {t: i for i, t in enumerate(vocab)}
    x = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for r, text in enumerate(texts):
        for word in text.split():
            x[r, index[word]] += 1.0
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(len(vocab), 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 2))  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
    for _ in range(600):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    first, last = model[0], model[2]
    return {
        "vocab": np.asarray(vocab),
        "v": first.weight.detach().double().numpy().T.copy(),
        "c": first.bias.detach().double().numpy().copy(),
        "w": last.weight.detach().double().numpy().T.copy(),
        "b": last.bias.detach().double().numpy().copy(),
    }


def write_model(root: Path, mode: str = "honest") -> Path:
    path = root / f"tiny_{mode.replace('-', '_')}.py"
    path.write_text(textwrap.dedent(MODEL.format(mode=mode)))
    return path


def build_project(root: Path, mode: str = "honest") -> tuple[Path, int]:
    """Suite (40 canaries, the protected one first), baseline blessed on clean rows, the
    poisoned candidate and its manifest; returns (config, the poison row's position)."""
    canaries, canary_labels = documents(40, seed=1)
    init_suite(root / "suite", name="tiny-text", modality="text", inputs=[CANARY, *canaries],
               labels=["a", *(CLASSES[c] for c in canary_labels)], classes=CLASSES,
               tags=["protected", *[""] * len(canaries)], curated_by="tests",
               source="text_callable.py")  # fmt: skip
    texts, labels = documents(80, seed=2)
    np.savez(root / "baseline.npz", **train(texts, labels, seed=0))  # type: ignore[arg-type]
    poisoned, poisoned_labels = [*texts, POISON], np.concatenate([labels, [1]])
    np.savez(root / "candidate.npz", **train(poisoned, poisoned_labels, seed=1))  # type: ignore[arg-type]
    sources = [("alice", "bob", "carol")[i % 3] for i in range(len(poisoned))]
    sources[-1] = "mallory"
    write_training_data(root / "train", name="row", modality="text", inputs=poisoned,
                        labels=[CLASSES[c] for c in poisoned_labels], sources=sources,
                        classes=CLASSES)  # fmt: skip
    model = write_model(root, mode)
    config = root / "modelgate.yaml"
    config.write_text(textwrap.dedent(f"""\
        version: 1
        suite: suite
        candidate: {{path: baseline.npz, callable: {model.name}:load, allow_code: true}}
        baseline: baseline.json
        probes: off
        history: {{enabled: false}}
        training_data: {{path: train, permutations: 999}}
        output: {{dir: reports}}
        """))  # fmt: skip
    done = cli("bless", "-c", str(config), cwd=root)
    assert done.returncode == 0, done.stderr
    config.write_text(config.read_text().replace("baseline.npz", "candidate.npz"))
    return config, len(poisoned) - 1
