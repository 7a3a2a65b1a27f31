"""The tabular example's classifier factory (`factory: model.py:build`): an MLP over 12 features.

Free of any other import from this example, so the gate can load it on its own.
"""

from __future__ import annotations

from torch import nn

N_FEATURES = 12
N_CLASSES = 4


def build(hidden: int = 64) -> nn.Module:
    """12 float features -> 4 logits (5,252 parameters at hidden=64)."""
    return nn.Sequential(
        nn.Linear(N_FEATURES, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, N_CLASSES),
    )
