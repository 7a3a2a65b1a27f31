"""The loader plug-in family's contract: what a loader receives, and the Predictor it returns.

One module per format implements `ModelLoader` (state_dict, export, torchscript, callable,
huggingface, onnx, skops); `load.py` picks one by the config's `format` and wraps the result in
the checks every format shares (allow_code, signature, deadline). The engine only ever sees a
`Predictor`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelgate.result import ModelInfo

if TYPE_CHECKING:
    from modelgate.config import ModelSpec

# A batch of suite inputs (numpy array, or list of texts) -> per-class scores (B, K).
ScoreFn = Callable[[Any], Any]


class TextWhiteBox(Protocol):
    """A text classifier whose token embeddings can be searched (trigger inversion in
    embedding space): the tokenizer's ids, the embedding matrix and a forward pass over
    embeddings."""

    special_ids: tuple[int, ...]  # never part of a trigger ([CLS], [SEP], [PAD], ...)
    prefix: int  # how many leading special tokens a trigger is inserted after

    def encode(self, texts: Sequence[str]) -> tuple[Any, Any]:
        """(input_ids, attention_mask), int64 tensors of shape (B, T)."""
        ...

    def embeddings(self) -> Any:
        """The (V, D) input-embedding matrix."""
        ...

    def logits(self, embeds: Any, attention_mask: Any) -> Any:
        """Class scores (B, K) for (B, T, D) input embeddings, in suite class order."""
        ...

    def token(self, token_id: int) -> str:
        """The vocabulary entry of `token_id`, for reports."""
        ...


@dataclass(frozen=True)
class Predictor:
    """Maps a batch of suite inputs to per-class scores.

    `module` is the torch module when there is one, for white-box probes; `is_torch` tells the
    inference loop it may hand over torch tensors and run under `torch.inference_mode`; `text`
    is set for text models whose embeddings the text trigger inversion can search.
    """

    info: ModelInfo
    score: ScoreFn
    output: str  # "logits", "probs" or "log_probs"
    module: Any = None
    is_torch: bool = False
    text: TextWhiteBox | None = None


@dataclass(frozen=True)
class LoadRequest:
    """Everything a loader needs: the spec, where its paths resolve, and where to point errors."""

    spec: ModelSpec
    folder: Path  # relative paths in the spec resolve against it (the config's folder)
    path: Path | None  # the resolved model file or directory, when the spec names one
    config_file: Path
    key: str  # the config key of this model ("candidate", "trust.blessed_model")
    classes: tuple[str, ...] | None = None  # the suite's classes, when known
    timeout_s: float | None = None

    def at(self, suffix: str) -> str:
        """`key.suffix`: the config key an error about that part of the spec names."""
        return f"{self.key}.{suffix}" if suffix else self.key


class ModelLoader(abc.ABC):
    """One model format."""

    name: str
    carries_code: bool  # loading or running it executes code its author wrote
    is_directory: bool = False  # the path names a folder (Hugging Face) rather than a file

    @abc.abstractmethod
    def load(self, request: LoadRequest, info: ModelInfo) -> Predictor:
        """Load the model `request` names; any failure is a ModelLoadError naming file and key."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
