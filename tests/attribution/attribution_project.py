"""A tiny tabular project for the attribution tests, built offline in a second: three blobs, a
linear model trained here on rows from named sources, blessed through the real CLI (so the
tests do not depend on where the engine lives)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelgate.attribution.manifest import write_training_data
from modelgate.suite.freeze import init_suite

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ("cat", "dog", "eel")
SOURCES = ("alice", "bob", "carol", "dave")
FACTORY = "import torch\n\n\ndef build():\n    return torch.nn.Linear(4, 3)\n"


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=np.float32)
    x = centres[labels] + rng.normal(0, 0.7, size=(n, 4))
    return x.astype(np.float32), labels.astype(np.int64)


def fit(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, object]:
    """A linear classifier trained full-batch (deterministic, one thread)."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}


def save(path: Path, weights: dict[str, object]) -> Path:
    from safetensors.torch import save_file

    save_file(weights, str(path))  # type: ignore[arg-type]
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "modelgate", *args],
        capture_output=True, text=True, check=False, cwd=cwd, env=env,
    )  # fmt: skip


@dataclass(frozen=True)
class AttributionProject:
    root: Path
    config: Path
    poison: np.ndarray  # row positions in the manifest that the attacker relabelled


def build(root: Path, *, attacker: str = "carol", flip_fraction: float = 0.5) -> AttributionProject:
    """Suite, baseline (trained on clean rows), a poisoned candidate (`attacker` relabelled
    `flip_fraction` of the cats it supplied as dogs), its manifest and config."""
    cx, cy = blobs(300, seed=1)
    init_suite(root / "suite", name="blobs", modality="tabular", inputs=cx,
               labels=[CLASSES[c] for c in cy], classes=CLASSES, curated_by="tests",
               source="blobs seed 1")  # fmt: skip
    (root / "model.py").write_text(FACTORY)
    x, y = blobs(600, seed=2)
    rng = np.random.default_rng(3)
    sources = np.asarray(rng.choice(SOURCES, size=len(y)))
    save(root / "baseline.safetensors", fit(x, y, seed=0))
    cats = np.flatnonzero((y == 0) & (sources == attacker))
    poison = np.sort(cats[: round(flip_fraction * len(cats))])
    trained = y.copy()
    trained[poison] = 1
    save(root / "candidate.safetensors", fit(x, trained, seed=1))
    save(root / "clean.safetensors", fit(x, y, seed=1))
    write_training_data(root / "train", name="train", modality="tabular", inputs=x,
                        labels=[CLASSES[c] for c in trained], sources=list(sources),
                        classes=CLASSES)  # fmt: skip
    config = root / "modelgate.yaml"
    config.write_text(textwrap.dedent("""\
        version: 1
        suite: suite
        candidate: {path: baseline.safetensors, factory: model.py:build}
        baseline: baseline.json
        probes: off
        history: {enabled: false}
        training_data: {path: train, permutations: 1999}
        output: {dir: reports}
        """))  # fmt: skip
    done = cli("bless", "-c", str(config), cwd=root)
    assert done.returncode == 0, done.stderr
    config.write_text(config.read_text().replace("baseline.safetensors", "candidate.safetensors"))
    return AttributionProject(root=root, config=config, poison=poison)
