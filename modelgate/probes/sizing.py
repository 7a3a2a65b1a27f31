"""Batches sized by bytes, not inputs: how many stamped inputs fit in `probes.batch_mb`.

The size of one input in a batch is its own bytes plus the model's activations for it, measured
once by watching every layer's output on a single canary. It depends only on the suite and the
model's architecture, never on the machine, so batch sizes (and any float rounding that follows
from them) are the same on every runner.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelgate.models.interface import Predictor

MAX_ROWS = 16_384  # more inputs per call than this saves no per-call overhead worth having
TEXT_BYTES = 1024  # a text canary, stamped, as a black box holds it (a rough bound)
# A model whose layers cannot be watched (a torch.export graph, TorchScript, a black box):
# assume its activations for one input are this many times the input.
UNSEEN_FACTOR = 8


@dataclass(frozen=True)
class Sizes:
    """Bytes one input takes in a batch: for inference (input + activations) and for the
    inversion's forward and backward pass (activations kept for the gradient)."""

    input_bytes: int
    activation_bytes: int

    @property
    def inference(self) -> int:
        return self.input_bytes + self.activation_bytes

    @property
    def search(self) -> int:
        return 2 * self.input_bytes + 3 * self.activation_bytes

    def rows(self, batch_bytes: int, per_input: int | None = None) -> int:
        """Inputs per inference call within `batch_bytes`: at least 1, at most MAX_ROWS."""
        return int(min(MAX_ROWS, max(1, batch_bytes // max(1, per_input or self.inference))))


def input_bytes(example: Any) -> int:
    if isinstance(example, str):
        return TEXT_BYTES
    return max(1, int(np.asarray(example).nbytes))


def sizes_of(predictor: Predictor, example: Any) -> Sizes:
    """The bytes of `example` (one canary) and of the model's activations for it."""
    own = input_bytes(example)
    if isinstance(example, str) or not predictor.is_torch or predictor.module is None:
        return Sizes(own, own * UNSEEN_FACTOR if predictor.is_torch else 0)
    seen = _activations(predictor, example)
    return Sizes(own, seen if seen else own * UNSEEN_FACTOR)


def _activations(predictor: Predictor, example: Any) -> int:
    """Sum of every leaf layer's output bytes on one input (0 when no layer can be watched)."""
    import torch

    total = [0]

    def count(_module: Any, _inputs: Any, output: Any) -> None:
        for tensor in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(tensor, torch.Tensor):
                total[0] += tensor.numel() * tensor.element_size()

    handles = []
    try:
        for module in predictor.module.modules():
            if next(module.children(), None) is None:
                with contextlib.suppress(Exception):  # a scripted module refuses hooks
                    handles.append(module.register_forward_hook(count))
        from modelgate.devices import module_device

        batch = torch.from_numpy(np.array(example)[None]).to(module_device(predictor.module))
        with torch.inference_mode():
            predictor.score(batch)
    except Exception:  # the real inference pass names a model that fails
        return 0
    finally:
        for handle in handles:
            handle.remove()
    return total[0]
