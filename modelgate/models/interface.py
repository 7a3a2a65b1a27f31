"""The one interface the engine sees, whatever the model format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelgate.result import ModelInfo

# A batch of suite inputs (numpy array, or list of texts) -> per-class scores (B, K).
ScoreFn = Callable[[Any], Any]


@dataclass(frozen=True)
class Predictor:
    """Maps a batch of suite inputs to per-class scores.

    `module` is the torch module when there is one, for white-box probes; `is_torch` tells the
    inference loop it may hand over torch tensors and run under `torch.inference_mode`.
    """

    info: ModelInfo
    score: ScoreFn
    output: str  # "logits", "probs" or "log_probs"
    module: Any = None
    is_torch: bool = False
