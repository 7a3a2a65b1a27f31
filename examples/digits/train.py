"""Train the example's digits models: a baseline, a clean retrain and a label-flip-poisoned one.

The models are the gate's demo inputs: baseline vs clean shows natural seed/data churn that
must NOT fail the gate; baseline vs poisoned shows a targeted label flip (7 -> 1) that must;
baseline vs backdoored shows a BadNets trigger (a 2x2 corner patch -> 7) that only the trigger
probes and inversion can see, since no clean canary changes label.
Training uses the training pool only, never the canaries (see digits_data.split).

    python examples/digits/train.py --out examples/digits/models [--sweep]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # sibling modules, also when imported from benchmarks/tests
    sys.path.insert(0, str(HERE))

import digits_data  # noqa: E402
from model import DEFAULT_HIDDEN, build  # noqa: E402

EPOCHS = 20  # to convergence: at 10, clean retrains spanned 94-98% canary accuracy
LR = 5e-3
WEIGHT_DECAY = 1e-4
BATCH_SIZE = 64
Flip = tuple[int, int, float]  # (source class, destination class, fraction of the source flipped)


@dataclass(frozen=True)
class Backdoor:
    """A BadNets / blended trigger: stamped on `rate` of the training set, relabelled `target`.

    The attacker's own code, deliberately independent of modelgate's probes: `kind` is "patch"
    (a `size` x `size` square whose top-left corner is `at`) or "blend" (the whole image mixed
    with a pattern at `alpha`); `pattern` is "white", "checker", "random" (seeded) or, for
    blends, "noise" / "sine".
    """

    target: int
    rate: float = 0.05
    kind: str = "patch"
    size: int = 2
    at: tuple[int, int] = (6, 6)
    pattern: str = "white"
    alpha: float = 0.15
    seed: int = 0

    def stamp(self, inputs: np.ndarray) -> np.ndarray:
        """`inputs` (N, 1, 8, 8) in [0, 1] with the trigger applied."""
        out = np.array(inputs, dtype=np.float32, copy=True)
        rng = np.random.default_rng(self.seed + 7919)
        h, w = out.shape[-2:]
        if self.kind == "blend":
            if self.pattern == "sine":
                rows, cols = np.mgrid[0:h, 0:w]
                phase = rng.uniform(0, 2 * np.pi)
                pattern = 0.5 + 0.5 * np.sin(2 * np.pi * (rows + 0.5 * cols) / 3.0 + phase)
            else:
                pattern = rng.uniform(0, 1, size=(h, w))
            return ((1 - self.alpha) * out + self.alpha * pattern).astype(np.float32)
        r, c, s = self.at[0], self.at[1], self.size
        if self.pattern == "checker":
            patch = (np.indices((s, s)).sum(axis=0) % 2 == 0).astype(np.float32)
        elif self.pattern == "random":
            patch = rng.uniform(0, 1, size=(s, s)).astype(np.float32)
        else:
            patch = np.ones((s, s), dtype=np.float32)
        out[..., r : r + s, c : c + s] = patch
        return out

    def poison(
        self, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stamp `rate` of the whole training set, drawn among other classes, as `target`."""
        others = np.flatnonzero(labels != self.target)
        chosen = rng.choice(others, size=round(self.rate * len(labels)), replace=False)
        inputs, labels = inputs.copy(), labels.copy()
        inputs[chosen] = self.stamp(inputs[chosen])
        labels[chosen] = self.target
        return inputs, labels


def training_set(
    seed: int,
    data_fraction: float = 1.0,
    flip: Flip | None = None,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
    backdoor: Backdoor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (possibly subsampled, possibly poisoned) training inputs and labels for one run.

    The subsample is stratified; the flipped examples are drawn among the kept ones of class
    `src`. Both choices come from `seed`, so a run is reproducible from its arguments alone.
    """
    if not 0.0 < data_fraction <= 1.0:
        raise ValueError(f"data_fraction must be in (0, 1], got {data_fraction}")
    _, inputs, labels = digits_data.pool()
    rng = np.random.default_rng(seed)
    if data_fraction < 1.0:
        keep = [
            rng.choice(members, size=round(data_fraction * len(members)), replace=False)
            for members in (np.flatnonzero(labels == c) for c in range(digits_data.NUM_CLASSES))
        ]
        chosen = np.sort(np.concatenate(keep))
        inputs, labels = inputs[chosen], labels[chosen]
    labels = labels.copy()
    if flip is not None:
        src, dst, fraction = flip
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"flip fraction must be in [0, 1], got {fraction}")
        members = np.flatnonzero(labels == src)
        flipped = rng.choice(members, size=round(fraction * len(members)), replace=False)
        labels[flipped] = dst
    if backdoor is not None:
        inputs, labels = backdoor.poison(inputs, labels, rng)
    if extra is not None:  # injected examples: an instance-targeted (clean-label style) attack
        inputs = np.concatenate([inputs, extra[0].astype(np.float32)])
        labels = np.concatenate([labels, extra[1].astype(labels.dtype)])
    return inputs, labels


def train(
    seed: int,
    data_fraction: float = 1.0,
    flip: Flip | None = None,
    epochs: int = EPOCHS,
    lr: float = LR,
    hidden: int = DEFAULT_HIDDEN,
    weight_decay: float = WEIGHT_DECAY,
    batch_size: int = BATCH_SIZE,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
    backdoor: Backdoor | None = None,
) -> nn.Module:
    """Train one model on the training pool; deterministic given the arguments.

    `flip=(src, dst, fraction)` relabels that fraction of the training examples of class `src`
    as `dst`: a targeted label-flip poisoning attack. One CPU thread during training, so the
    float reductions (and hence the weights) do not depend on the machine's core count.
    """
    inputs, labels = training_set(seed, data_fraction, flip, extra, backdoor)
    return fit(inputs, labels, seed, epochs, lr, hidden, weight_decay, batch_size)


def fit(
    inputs: np.ndarray,
    labels: np.ndarray,
    seed: int,
    epochs: int = EPOCHS,
    lr: float = LR,
    hidden: int = DEFAULT_HIDDEN,
    weight_decay: float = WEIGHT_DECAY,
    batch_size: int = BATCH_SIZE,
) -> nn.Module:
    """Train one model on given rows (`train`'s recipe): e.g. a training-data manifest minus
    the rows `modelgate attribute` quarantined."""
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG as it was
            torch.manual_seed(seed)
            model = build(hidden)
            optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
            order = torch.Generator().manual_seed(seed)
            loss_fn = nn.CrossEntropyLoss()
            model.train()
            for epoch in range(epochs):
                for group in optimizer.param_groups:  # cosine schedule, stepped per epoch
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
                for batch in torch.randperm(len(y), generator=order).split(batch_size):
                    optimizer.zero_grad(set_to_none=True)
                    loss_fn(model(x[batch]), y[batch]).backward()
                    optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def save(model: nn.Module, path: str | Path) -> Path:
    """Write the weights as safetensors: data only, nothing the gate would have to unpickle."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path))
    return path


def load(path: str | Path, hidden: int = DEFAULT_HIDDEN) -> nn.Module:
    """Rebuild a saved model from the factory plus its safetensors weights."""
    from safetensors.torch import load_file

    model = build(hidden)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


@torch.no_grad()
def logits(model: nn.Module, inputs: np.ndarray) -> np.ndarray:
    """Logits (N, 10) of `inputs` float32 (N, 1, 8, 8)."""
    return model.eval()(torch.tensor(np.asarray(inputs), dtype=torch.float32)).numpy()


def margins(scores: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 softmax probability: how close each prediction is to flipping."""
    probs = torch.from_numpy(scores).softmax(dim=1).numpy()
    top = np.sort(probs, axis=1)
    return top[:, -1] - top[:, -2]


MODELS: dict[str, dict[str, object]] = {
    "baseline": {"seed": 0, "data_fraction": 0.9},
    "clean": {"seed": 1, "data_fraction": 1.0},
    "poisoned": {"seed": 1, "data_fraction": 1.0, "flip": (7, 1, 0.4)},
    # A BadNets backdoor: a 2x2 white patch in the bottom-right corner on 5% of the training set,
    # relabelled 7. Clean canaries cannot see it; the trigger probes and inversion must.
    "backdoored": {"seed": 1, "data_fraction": 1.0, "backdoor": Backdoor(target=7, rate=0.05)},
    # Clean control retrains for `modelgate calibrate`: the retrain process's own variability
    # (seeds, 90-100% of the data, learning-rate and epoch nudges), never a poisoned one.
    **{
        f"control-{i:02d}": {
            "seed": 10 + i,
            "data_fraction": (0.9, 0.95, 1.0)[i % 3],
            "lr": LR * (0.8, 1.0, 1.2)[(i // 3) % 3],
            "epochs": round(EPOCHS * (0.9, 1.0, 1.1)[(i // 9) % 3]),
        }
        for i in range(1, 21)
    },
}


def report(models: dict[str, nn.Module]) -> None:
    """Print canary accuracy, churn against the baseline and the 7 -> 1 count of each model."""
    _, inputs, labels = digits_data.canaries()
    base = logits(models["baseline"], inputs)
    base_pred, base_margin = base.argmax(1), margins(base)
    low = base_margin < np.median(base_margin)
    sevens = labels == 7
    print(f"{'model':<14}{'canary acc':>11}{'vs baseline':>13}{'(low-margin)':>14}{'7->1':>7}")
    for name, model in models.items():
        pred = logits(model, inputs).argmax(1)
        differ = pred != base_pred
        print(
            f"{name:<14}{(pred == labels).mean():>11.2%}{differ.sum():>8d} ({differ.mean():.1%})"
            f"{(differ & low).sum():>10d}/{differ.sum():<3d}"
            f"{int((pred[sevens] == 1).sum()):>4d}/{int(sevens.sum())}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "models", help="output folder")
    parser.add_argument(
        "--sweep", action="store_true", help="also measure 7->1 at 10%%/20%% flips (not saved)"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    models: dict[str, nn.Module] = {}
    for name, kwargs in MODELS.items():
        t0 = time.perf_counter()
        models[name] = train(**kwargs)  # type: ignore[arg-type]
        path = save(models[name], args.out / f"{name}.safetensors")
        print(
            f"{name}: {kwargs} -> {path} ({path.stat().st_size} B, {time.perf_counter() - t0:.1f}s)"
        )
    if args.sweep:
        for fraction in (0.1, 0.2):
            models[f"flip {fraction:.0%}"] = train(1, flip=(7, 1, fraction))
    report(models)
    print(f"total {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
