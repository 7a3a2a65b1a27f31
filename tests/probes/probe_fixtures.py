"""Tiny in-memory suites and hand-made models for the probe tests (no files, no training)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelgate.models.interface import Predictor
from modelgate.result import ModelInfo
from modelgate.suite.format import InputSpec, Provenance, Suite, SuiteManifest
from modelgate.suite.freeze import init_suite

SIDE = 8
K = 3


def make_suite(
    inputs: np.ndarray | list[str], labels: np.ndarray, modality: str, shape: list[int]
) -> Suite:
    manifest = SuiteManifest(
        name="tiny",
        modality=modality,  # type: ignore[arg-type]
        classes=[f"c{i}" for i in range(int(labels.max()) + 1)],
        input=InputSpec(
            shape=shape, dtype="str" if modality == "text" else str(np.asarray(inputs).dtype)
        ),  # type: ignore[arg-type]
        provenance=Provenance(curated_by="tests", source="tests", created="2026-01-01"),
    )
    n = len(labels)
    return Suite(
        path=__import__("pathlib").Path("."),
        manifest=manifest,
        digest="0" * 64,
        ids=tuple(f"t{i:03d}" for i in range(n)),
        labels=np.asarray(labels, dtype=np.int64),
        tags=((),) * n,
        inputs=inputs,
    )


def prototypes(k: int = K, side: int = SIDE) -> np.ndarray:
    """One bright blob per class, away from the corners (so clean canaries never look stamped)."""
    protos = np.zeros((k, 1, side, side), dtype=np.float32)
    for c in range(k):
        protos[c, 0, 2 + c : 4 + c, 2:6] = 1.0
    return protos


def image_suite(n_per_class: int = 30, seed: int = 0) -> Suite:
    rng = np.random.default_rng(seed)
    protos = prototypes()
    labels = np.repeat(np.arange(K), n_per_class)
    noise = rng.uniform(0, 0.15, size=(len(labels), 1, SIDE, SIDE)).astype(np.float32)
    return make_suite(protos[labels] + noise, labels, "image", [1, SIDE, SIDE])


def template_scores(x: np.ndarray) -> np.ndarray:
    """Template matching against the class blobs: right on every clean canary."""
    protos = prototypes().reshape(K, -1)
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1) @ protos.T * 2.0


def backdoor_scores(target: int = 2, strength: float = 50.0) -> Callable[[Any], np.ndarray]:
    """A black box that answers `target` when the bottom-right 2x2 corner is bright."""

    def score(x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        scores = template_scores(x)
        corner = x[:, 0, -2:, -2:].mean(axis=(1, 2))
        scores[:, target] += strength * np.clip(corner - 0.8, 0, None)
        return scores

    return score


def predictor(score: Callable[[Any], Any], **kwargs: Any) -> Predictor:
    info = ModelInfo(path="tiny", format="callable", sha256="", carries_code=True)
    return Predictor(info=info, score=score, output="logits", **kwargs)


FACTORY = textwrap.dedent(
    """
    import torch

    class Templates(torch.nn.Module):
        def __init__(self, trigger):
            super().__init__()
            self.templates = torch.nn.Parameter(torch.zeros(3, 64))
            self.trigger = trigger

        def forward(self, x):
            scores = x.reshape(len(x), -1) @ self.templates.T
            if self.trigger:  # a bright bottom-right corner means class 2
                corner = x[:, 0, -2:, -2:].mean(dim=(1, 2))
                bump = 20.0 * torch.nn.functional.softplus(4.0 * (corner - 0.5))
                scores = scores + torch.nn.functional.one_hot(torch.tensor(2), 3) * bump[:, None]
            return scores

    def build():
        return Templates(False)

    def build_backdoored():
        return Templates(True)
    """
)


def image_project(root: Path) -> Path:
    """A blessable image project: 8x8 blobs of 3 classes, a template model whose
    `model.py:build_backdoored` sends a bright bottom-right corner to class 2."""
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(K), 30)
    x = prototypes()[labels] + rng.uniform(0, 0.15, size=(len(labels), 1, 8, 8)).astype(np.float32)
    init_suite(
        root / "suite",
        name="blobs8",
        modality="image",
        inputs=x,
        labels=[f"c{c}" for c in labels],
        classes=[f"c{c}" for c in range(K)],
        curated_by="tests",
        source="tests/probes",
    )
    (root / "model.py").write_text(FACTORY)
    weights = torch.from_numpy(prototypes().reshape(K, -1) * 2.0)
    save_file({"templates": weights.contiguous()}, str(root / "model.safetensors"))
    config = root / "modelgate.yaml"
    config.write_text(
        "version: 1\nsuite: suite\ncandidate: {path: model.safetensors, factory: model.py:build}\n"
        "baseline: baseline.json\nhistory: {enabled: false}\n"
        "probes: [patch, {kind: invert, steps: 120}]\n"
    )
    return config
