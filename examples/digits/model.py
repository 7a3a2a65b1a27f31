"""The digits classifier factory the gate imports (`factory: model.py:build`).

Kept free of any other import from this example so the gate can load it on its own: weights come
from a safetensors file, the architecture from this reviewed code.
"""

from __future__ import annotations

from torch import nn

DEFAULT_HIDDEN = 8


def build(hidden: int = DEFAULT_HIDDEN) -> nn.Module:
    """A small CNN for (B, 1, 8, 8) inputs in [0, 1] -> 10 logits (3,818 parameters at hidden=8)."""
    return nn.Sequential(
        nn.Conv2d(1, hidden, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(hidden, 2 * hidden, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),
        nn.Linear(2 * hidden * 16, 10),
    )
