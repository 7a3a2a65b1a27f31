"""A tiny tabular project (suite, factory, weights, baseline, config) built in tmp_path.

Everything is generated here, offline, in well under a second: a 3-class linear model over 4
features, so end-to-end tests exercise the real loaders, inference and reports.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from modelgate.config import load_config
from modelgate.engine.bless import bless
from modelgate.suite.freeze import init_suite

FACTORY = textwrap.dedent(
    """
    import torch

    def build():
        return torch.nn.Linear(4, 3)

    def build_wrong_outputs():
        return torch.nn.Linear(4, 5)

    class NaNModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.linear(x) * float("nan")

    def build_nan():
        return NaNModel()

    class Raising(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            raise RuntimeError("boom")

    def build_raising():
        return Raising()
    """
)

CLASSES = ("cat", "dog", "eel")


def make_data(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated gaussian blobs in 4 features."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=np.float32)
    x = centres[labels] + rng.normal(0, 0.6, size=(n, 4)).astype(np.float32)
    return x.astype(np.float32), labels


def linear_weights(shift: tuple[int, int, float] | None = None) -> dict[str, object]:
    """Weights of a good linear classifier; `shift=(a, b, s)` moves class a's inputs toward b."""
    import torch

    weight = torch.zeros(3, 4)
    for c in range(3):
        weight[c, c] = 3.0
    bias = torch.zeros(3)
    if shift is not None:
        a, b, s = shift
        weight[b, a] += s
    return {"weight": weight, "bias": bias}


@dataclass
class Project:
    root: Path
    config: Path

    def write_config(self, text: str, name: str = "modelgate.yaml") -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def add_controls(self, shifts: list[tuple[int, int, float]]) -> list[str]:
        """Control retrains `control{n}.safetensors` (`linear_weights(shift=...)` each), and a
        `calibration: calib.json` line in the config; returns their paths."""
        paths = []
        for n, shift in enumerate(shifts):
            path = self.root / f"control{n}.safetensors"
            save_weights(path, linear_weights(shift=shift))
            paths.append(str(path))
        self.config.write_text(self.config.read_text() + "calibration: calib.json\n")
        return paths


BASE_CONFIG = """
version: 1
suite: suite
candidate:
  path: candidate.safetensors
  factory: model.py:build
baseline: baseline.json
waivers: waivers.yaml
output:
  dir: reports
"""


def save_weights(path: Path, weights: dict[str, object]) -> None:
    from safetensors.torch import save_file

    save_file(weights, str(path))  # type: ignore[arg-type]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A blessed project whose candidate equals the baseline (so `check` passes)."""
    return Project(root=tmp_path, config=build_project(tmp_path))


def build_project(
    root: Path,
    *,
    classes: tuple[str, ...] = CLASSES,
    ids: list[str] | None = None,
    name: str = "blobs",
) -> Path:
    """Suite, factory, weights, waivers and config in `root`, blessed; returns the config path."""
    x, labels = make_data()
    tags = ["protected" if i < 3 else "" for i in range(len(labels))]
    init_suite(
        root / "suite",
        name=name,
        modality="tabular",
        inputs=x,
        labels=[classes[c] for c in labels],
        classes=classes,
        ids=ids,
        tags=tags,
        curated_by="tests",
        source="tests/projects.py make_data seed 0",
    )
    (root / "model.py").write_text(FACTORY)
    save_weights(root / "candidate.safetensors", linear_weights())
    (root / "waivers.yaml").write_text("version: 1\nwaivers: []\n")
    config = root / "modelgate.yaml"
    config.write_text(BASE_CONFIG.lstrip())
    bless(load_config(config))
    return config


_TIMES = re.compile(
    rb'("(started|finished)_at": "[^"]*"|timestamp="[^"]*"|time="[0-9.]+"|seconds": [0-9.e-]+)'
)


def blanked_reports(folder: Path) -> dict[str, bytes]:
    """Every report file in `folder`, timestamps and durations blanked: what two runs of the
    same check must agree on byte for byte."""
    return {p.name: _TIMES.sub(b"T", p.read_bytes()) for p in sorted(folder.iterdir())}


REPOSITORY = Path(__file__).resolve().parents[1]


def copy_example(root: Path, *models: str) -> Path:
    """The bundled digits example (config, factory, records, waivers and these `models/NAME`
    files) and its canary suite under `root`, laid out as in the repository, so that the
    config's `../../canaries/digits` and `../../modelgate-report` resolve inside `root` and its
    run ledger stays out of the checkout. Returns the example's folder."""
    import shutil

    source, example = REPOSITORY / "examples" / "digits", root / "examples" / "digits"
    (example / "models").mkdir(parents=True)
    for name in ("modelgate.yaml", "model.py", "waivers.yaml"):
        shutil.copy(source / name, example / name)
    shutil.copytree(source / "baselines", example / "baselines")
    for model in models:
        shutil.copy(source / "models" / f"{model}.safetensors", example / "models")
    shutil.copytree(REPOSITORY / "canaries" / "digits", root / "canaries" / "digits")
    return example
