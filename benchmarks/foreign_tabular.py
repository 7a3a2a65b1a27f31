"""False alarms on a tabular world none of the examples is: skewed, count and large-unit features.

scikit-learn's `make_classification` (30 features, 12 informative, 6 classes, two clusters per
class, 2% label noise), then six features exponentiated (long right tails), six rounded to
counts, four in thousands; 6,000 training rows and 1,200 canaries. The model is not the
examples' either: a standardising layer (its statistics in the weights), then a BatchNorm and
Dropout MLP (`--kind mlp`) or a logistic regression (`--kind logreg`), trained with AdamW,
label smoothing and a cosine schedule; retrains vary seed, subsample (85-100%), epochs and
learning rate. Blesses one model, calibrates it with 4 and with 20 clean control retrains, then
judges `--clean` further clean retrains and four attacks (two label flips, a count feature set
beyond its range, a pair of in-range rare values) with the real gate (`evaluate`, default
probes and inversion, alpha 0.01), against both calibrations. The accuracy budget
(`policy.accuracy.max_drop`, a fixed 2%) is reported apart: clean retrains of this recipe do
lose 3-4% now and then, and that budget is the team's, not a statistic.
Run: python benchmarks/foreign_tabular.py [--kind mlp|logreg] [--draw N] [--clean 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from intervals import wilson

N_FEATURES, N_CLASSES, N_TRAIN, N_CANARIES = 30, 6, 6000, 1200
CLASSES = tuple(f"k{c}" for c in range(N_CLASSES))
CONTROLS = (4, 20)
MODEL_PY = """\
import torch
from torch import nn


class Standardize(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.register_buffer("mu", torch.zeros(features))
        self.register_buffer("sd", torch.ones(features))

    def forward(self, x):
        return (x - self.mu) / self.sd


def build(kind="KIND"):
    if kind == "logreg":
        return nn.Sequential(Standardize(30), nn.Linear(30, 6))
    return nn.Sequential(
        Standardize(30), nn.Linear(30, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 6),
    )
"""
CONFIG = """\
version: 1
suite: suite
candidate: {path: models/baseline.safetensors, factory: "model.py:build"}
baseline: baseline.json
probes: default
policy: {alpha: 0.01}
output: {dir: reports}
"""


def make_data(draw: int) -> tuple[np.ndarray, ...]:
    """(train x, train y, canary x, canary y)."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=N_TRAIN + N_CANARIES, n_features=N_FEATURES, n_informative=12, n_redundant=6,
        n_classes=N_CLASSES, n_clusters_per_class=2, class_sep=1.2, flip_y=0.02,
        random_state=draw,
    )  # fmt: skip
    x[:, 0:6] = np.exp(x[:, 0:6] / 2)  # long right tails
    x[:, 6:12] = np.clip(np.round(3 * x[:, 6:12] + 8), 0, None)  # counts
    x[:, 12:16] *= 1000.0  # another unit
    x = x.astype(np.float32)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def train(
    build: Any, kind: str, x: np.ndarray, y: np.ndarray, seed: int, **recipe: Any
) -> nn.Module:
    """One deterministic retrain (one thread) with the recipe's subsample and attack."""
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(y), size=round(recipe.get("frac", 1.0) * len(y)), replace=False))
    x, y = x[keep].copy(), y[keep].copy()
    if "flip" in recipe:
        src, dst, fraction = recipe["flip"]
        pool = np.flatnonzero(y == src)
        y[rng.choice(pool, size=round(fraction * pool.size), replace=False)] = dst
    if "backdoor" in recipe:
        features, values, target, rate = recipe["backdoor"]
        chosen = rng.choice(np.flatnonzero(y != target), size=round(rate * len(y)), replace=False)
        for f, v in zip(features, values):
            x[chosen, f] = v
        y[chosen] = target
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = build(kind)
    model[0].mu.copy_(torch.from_numpy(x.mean(0)))
    model[0].sd.copy_(torch.from_numpy(x.std(0) + 1e-6))
    lr, epochs = recipe.get("lr", 2e-3), recipe.get("epochs", 25)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    order = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        for batch in torch.randperm(len(labels), generator=order).split(256):
            optimizer.zero_grad()
            loss_fn(model(inputs[batch]), labels[batch]).backward()
            optimizer.step()
    return model.eval()


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _success(model: nn.Module, cx: np.ndarray, cy: np.ndarray, backdoor: tuple[Any, ...]) -> float:
    """The attack's success rate: canaries of other classes, stamped, sent to its target."""
    features, values, target, _ = backdoor
    stamped = cx[cy != target].copy()
    for f, v in zip(features, values):
        stamped[:, f] = v
    with torch.inference_mode():
        predicted = model(torch.from_numpy(stamped)).argmax(1).numpy()
    return float((predicted == target).mean())


def save(model: nn.Module, path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


ATTACKS: list[tuple[str, dict[str, Any]]] = [
    ("label flip 15% k2->k4", {"flip": (2, 4, 0.15)}),
    ("label flip 10% k0->k5", {"flip": (0, 5, 0.10)}),
    ("count f7=40 (beyond range) 4% -> k1", {"backdoor": ((7,), (40.0,), 1, 0.04)}),
    ("f2=0.05, f13=9000 (in range) 3% -> k3", {"backdoor": ((2, 13), (0.05, 9000.0), 3, 0.03)}),
]


def run(root: Path, kind: str, draw: int, n_clean: int) -> None:
    from modelgate.config import load_config, with_candidate_path
    from modelgate.engine.bless import bless
    from modelgate.engine.calibrate import calibrate_controls
    from modelgate.engine.candidate import predict_with_model
    from modelgate.engine.evaluate import evaluate
    from modelgate.engine.inputs import load_inputs
    from modelgate.probes.run import triggers_for
    from modelgate.suite.freeze import init_suite

    code = MODEL_PY.replace("KIND", kind)
    (root / "model.py").write_text(code)
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the factory the gate imports
    build = namespace["build"]
    x, y, cx, cy = make_data(draw)
    init_suite(root / "suite", name="foreign", modality="tabular", inputs=cx,
               labels=[CLASSES[c] for c in cy], classes=CLASSES, curated_by="benchmark",
               source=f"make_classification(random_state={draw}), transformed")  # fmt: skip
    seed = 70_000 + 1000 * draw
    save(train(build, kind, x, y, seed, frac=0.9), root / "models" / "baseline.safetensors")
    (root / "modelgate.yaml").write_text(CONFIG)
    bless(load_config(root / "modelgate.yaml"))
    rng = np.random.default_rng(seed)

    def recipe() -> dict[str, Any]:
        return {"frac": float(rng.choice([0.85, 0.9, 0.95, 1.0])),
                "epochs": int(rng.choice([20, 25, 30])),
                "lr": float(2e-3 * rng.choice([0.8, 1.0, 1.25]))}  # fmt: skip

    controls = []
    for i in range(max(CONTROLS)):
        model = train(build, kind, x, y, seed + 100 + i, **recipe())
        controls.append(str(save(model, root / "controls" / f"{i}.safetensors")))
    configs = {}
    for n in CONTROLS:
        (root / f"c{n}.yaml").write_text(CONFIG + f"calibration: calibration-{n}.json\n")
        calibrate_controls(load_config(root / f"c{n}.yaml"), controls[:n])
        configs[n] = load_config(root / f"c{n}.yaml")
    inputs = {n: load_inputs(c) for n, c in configs.items()}
    suite = inputs[CONTROLS[0]].suite
    jobs: list[tuple[str, dict[str, Any]]] = [("clean retrain", {}) for _ in range(n_clean)]
    jobs += ATTACKS
    failures: dict[int, list[list[str]]] = {n: [] for n in CONTROLS}
    blessed, took = build(kind), dict[str, str]()
    blessed.load_state_dict(_weights(root / "models" / "baseline.safetensors"))
    for j, (label, attack) in enumerate(jobs):
        model = train(build, kind, x, y, seed + 500 + j, **{**recipe(), **attack})
        path = save(model, root / f"candidates/{j}.safetensors")
        if "backdoor" in attack:  # a missed backdoor that did not take is no miss: say which
            rates = (_success(model, cx, cy, attack["backdoor"]),
                     _success(blessed.eval(), cx, cy, attack["backdoor"]))  # fmt: skip
            took[label] = f" (success {rates[0]:.0%}, blessed {rates[1]:.0%})"
            label += took[label]
        config = with_candidate_path(configs[CONTROLS[0]], path)
        candidate, predictor = predict_with_model(config, suite)
        header = inputs[CONTROLS[0]].baseline.header.triggers
        triggers = triggers_for(config, suite, predictor, candidate, header)
        line = []
        for n in CONTROLS:
            judged = replace(inputs[n], config=with_candidate_path(configs[n], path))
            result = evaluate(judged, candidate, predictor.info, triggers=triggers)
            failed = sorted(str(c.name) for c in result.checks if c.status.value == "failed")
            failures[n].append(failed)
            line.append(f"c{n}: {','.join(failed) or 'pass'}")
        print(f"[{j + 1}/{len(jobs)}] {label:40s} " + "  ".join(line), file=sys.stderr, flush=True)
    print(f"\nforeign tabular world, {kind}, draw {draw}: {n_clean} clean retrains")
    for n in CONTROLS:
        clean = failures[n][:n_clean]
        statistical = sum(any(c != "accuracy" for c in f) for f in clean)
        budget = sum("accuracy" in f for f in clean)
        lo, hi = wilson(statistical, n_clean)
        fired = sorted({c for f in clean for c in f if c != "accuracy"})
        print(f"  {n:2d} controls: false alarms {statistical}/{n_clean} [{lo:.0%}, {hi:.0%}] "
              f"{fired}; over the 2% accuracy budget {budget}/{n_clean}; attacks: "
              + ", ".join(f"{label}{took.get(label, '')}: {','.join(f) or 'missed'}"
                          for (label, _), f in zip(ATTACKS, failures[n][n_clean:])))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("mlp", "logreg"), default="mlp")
    parser.add_argument("--draw", type=int, default=1, help="data and seed draw")
    parser.add_argument("--clean", type=int, default=20, help="clean retrains judged")
    parser.add_argument("--keep", type=Path, help="write the project here, to look at later")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True)
        run(args.keep, args.kind, args.draw, args.clean)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp), args.kind, args.draw, args.clean)


if __name__ == "__main__":
    main()
