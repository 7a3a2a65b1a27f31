"""The text example's model, loaded as a black-box callable (`callable: model.py:load`).

Word embeddings pooled by mean and max (a one-layer text CNN); the vocabulary travels in the
safetensors metadata. `load(path)` returns the predict function the gate calls on a batch of
texts; it exposes `.vocabulary` (most frequent first) so the gate's token probes can sweep it,
and `.features` (the input of the final linear layer) so `modelgate attribute` can score the
training rows of a black-box model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

N_CLASSES = 4


class BagOfEmbeddings(nn.Module):
    """Word embeddings pooled by mean and max, then a linear layer: a one-layer text CNN."""

    def __init__(self, vocab_size: int, dim: int = 32) -> None:
        super().__init__()
        self.pad = vocab_size
        self.embed = nn.Embedding(vocab_size + 1, dim, padding_idx=vocab_size)
        self.out = nn.Linear(2 * dim, N_CLASSES)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """The input of the final linear layer: mean and max pooling, concatenated, relu'd."""
        e = self.embed(ids)
        mask = (ids != self.pad)[..., None]
        mean = (e * mask).sum(1) / mask.sum(1).clamp_min(1)
        top = torch.where(mask, e, torch.full_like(e, -1e4)).max(1).values
        top = torch.where(mask.any(1), top, torch.zeros_like(top))
        return torch.relu(torch.cat([mean, top], dim=1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(ids))


def build(vocab_size: int) -> nn.Module:
    return BagOfEmbeddings(vocab_size)


def featurise(texts: Sequence[str], index: dict[str, int], length: int = 32) -> torch.Tensor:
    """(N, length) word ids, padded with len(index); unknown words are dropped."""
    pad = len(index)
    ids = np.full((len(texts), length), pad, dtype=np.int64)
    for i, text in enumerate(texts):
        known = [index[w] for w in text.lower().split() if w in index][:length]
        ids[i, : len(known)] = known
    return torch.from_numpy(ids)


def load(path: str | Path) -> Callable[[Sequence[str]], Any]:
    """The predict function of a saved model: texts -> (N, 4) logits."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        vocabulary = json.loads((handle.metadata() or {})["vocabulary"])
    model = build(len(vocabulary))
    model.load_state_dict(load_file(str(path)))
    model.eval()
    index = {w: i for i, w in enumerate(vocabulary)}

    def predict(texts: Sequence[str]) -> np.ndarray:
        with torch.no_grad():
            return model(featurise(texts, index)).numpy()

    def features(texts: Sequence[str]) -> np.ndarray:
        """(N, 64): what `model.out` maps to the logits."""
        with torch.no_grad():
            return model.features(featurise(texts, index)).numpy()

    predict.vocabulary = list(vocabulary)  # type: ignore[attr-defined]
    predict.features = features  # type: ignore[attr-defined]
    return predict
