"""A synthetic project for the history tests: a real suite and config, and models that are only
log-probability matrices, so a run of retrains takes milliseconds and no model is loaded.

Every version is the same underlying classifier plus fresh noise (clean churn between any two
versions looks alike); a slow poisoning moves `per_step` more confident 7s to 1 at each step.
"""

from __future__ import annotations

import hashlib
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelgate.baseline import write_baseline
from modelgate.baseline_header import BaselineHeader, BlessedModel, SuiteRef
from modelgate.config import Config, load_config
from modelgate.engine.evaluate import evaluate
from modelgate.engine.history import check_with_history, record_bless, with_drift
from modelgate.engine.inputs import Inputs, load_inputs
from modelgate.predict import Predictions
from modelgate.result import GateResult, ModelInfo
from modelgate.suite.format import Suite, load_suite
from modelgate.suite.freeze import init_suite

CLASSES = tuple(str(c) for c in range(10))
PER_CLASS = 40
CONFIG = """
version: 1
suite: suite
candidate:
  path: candidate.safetensors
  factory: model.py:build
baseline: baseline.json
policy:
  drift: {window: WINDOW}
"""


@dataclass
class World:
    root: Path
    config: Config
    suite: Suite
    logits: np.ndarray  # the underlying classifier
    seed: int = 0

    def version(self, step: int, moved: int = 0, noise: float = 0.25) -> Predictions:
        """Version `step`: fresh noise, and the first `moved` class-7 canaries now say 1."""
        rng = np.random.default_rng(1000 + step)
        z = self.logits + rng.normal(0, noise, self.logits.shape)
        sevens = np.flatnonzero(self.suite.labels == 7)[:moved]
        z[sevens, 1] = z[sevens].max(axis=1) + 2.0
        z = z - z.max(axis=1, keepdims=True)
        logp = (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(np.float32)
        return Predictions(log_probs=logp, labels=logp.argmax(axis=1).astype(np.int64))


def make_world(
    root: Path, window: int = 5, seed: int = 0, per_class: int = PER_CLASS, suite: str = "suite"
) -> World:
    """A suite of `per_class` canaries per class; a larger one extends a smaller one (the same
    first canaries, the same underlying scores), like a suite that grew a version."""
    rng = np.random.default_rng(seed)
    n, most = per_class * len(CLASSES), 4 * PER_CLASS * len(CLASSES)
    labels = np.arange(n) % len(CLASSES)
    logits = rng.normal(0, 1, (most, len(CLASSES)))[:n]
    wrong, low, high = (
        rng.random(most)[:n],
        rng.uniform(-1, 0, most)[:n],
        rng.uniform(0.3, 5, most)[:n],
    )
    margin = np.where(wrong < 0.04, low, high)
    logits[np.arange(n), labels] = logits.max(axis=1) + margin
    protected = np.flatnonzero((margin > 3.0) & (labels != 7))[:6]
    watched = np.flatnonzero(labels == 7)[:3]  # the first 7s the slow poisoning moves
    init_suite(
        root / suite,
        name="synthetic",
        modality="tabular",
        inputs=np.zeros((n, 2), dtype=np.float32),
        labels=[CLASSES[c] for c in labels],
        classes=CLASSES,
        tags=[_tag(i, protected, watched) for i in range(n)],
        curated_by="tests",
        source="tests/history/history_sim.py",
    )
    text = CONFIG.replace("WINDOW", str(window)).replace("suite: suite", f"suite: {suite}")
    (root / "modelgate.yaml").write_text(textwrap.dedent(text))
    config = load_config(root / "modelgate.yaml")
    return World(root, config, load_suite(root / suite), logits)


def _tag(i: int, protected: np.ndarray, watched: np.ndarray) -> str:
    return "protected" if i in protected else "watched" if i in watched else ""


def info(step: int) -> ModelInfo:
    digest = hashlib.sha256(f"model v{step}".encode()).hexdigest()
    return ModelInfo(f"models/v{step}.safetensors", "state_dict", digest, False)


def bless_version(world: World, step: int, preds: Predictions, *, forced: bool = False) -> None:
    """What `modelgate bless` does, minus running the model."""
    previous = None
    if world.config.baseline_path.exists():
        inputs = load_inputs(world.config)
        previous = with_drift(inputs, preds, evaluate(inputs, preds, info(step)))
    header = BaselineHeader(
        suite=SuiteRef("synthetic", world.suite.manifest.version, world.suite.digest),
        model=BlessedModel(info(step).path, "state_dict", info(step).sha256, False),
        blessed_at=f"2024-01-{step + 1:02d}T00:00:00+00:00",
        config_sha256=world.config.sha256,
        classes=tuple(CLASSES),
        forced=forced,
        reason="test" if forced else None,
    )
    write_baseline(world.config.baseline_path, world.suite, preds, header)
    record_bless(
        world.config, world.suite, preds, info=info(step), header=header, previous=previous
    )


def check_version(world: World, step: int, preds: Predictions) -> GateResult:
    """What `modelgate check` does, minus running the model."""
    inputs: Inputs = load_inputs(world.config)
    return check_with_history(inputs, preds, evaluate(inputs, preds, info(step)))


def single_step_failures(result: GateResult) -> list[str]:
    return [c.name for c in result.checks if c.name != "drift" and c.status.value == "failed"]
