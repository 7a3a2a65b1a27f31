"""`format: huggingface`: a local transformers model folder (optional extra
`modelgate[huggingface]`): config.json, safetensors weights, tokenizer or image processor files.

Loaded with `local_files_only` (never the hub) and never `trust_remote_code`: a folder whose
config asks for its own code (`auto_map`) is refused, as are pickle-based weights
(`pytorch_model.bin`): only `model.safetensors` (or its sharded index) is read. The tokenizer is
applied to the suite's raw texts, the image processor to its images. Class order comes from
`id2label` and must be the suite's. Text models are white-box: their embeddings are searched by
the text trigger inversion (`probes/text_invert.py`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelgate.errors import ModelLoadError
from modelgate.jsonfile import loads
from modelgate.models.interface import LoadRequest, ModelLoader, Predictor, first_line
from modelgate.result import ModelInfo

_INSTALL = 'pip install "modelgate[huggingface]" (transformers, tokenizers)'
_SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
_PICKLED = (
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "tf_model.h5",
    "flax_model.msgpack",
)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


class HuggingFaceLoader(ModelLoader):
    name = "huggingface"
    carries_code = False
    is_directory = True

    def load(self, request: LoadRequest, info: ModelInfo) -> Predictor:
        folder = request.path
        assert folder is not None
        config = _read_config(folder, request)
        _refuse_unsafe(folder, config, request)
        # Belt and braces: even a code path that forgot local_files_only stays off the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import transformers
        except ImportError:
            raise ModelLoadError(
                "Hugging Face models need transformers",
                file=folder,
                key=request.at("format"),
                hint=_INSTALL,
            ) from None
        text = any((folder / name).is_file() for name in _TOKENIZER_FILES)
        auto = (
            transformers.AutoModelForSequenceClassification
            if text
            else transformers.AutoModelForImageClassification
        )
        options = {"local_files_only": True, "trust_remote_code": False}
        try:
            model = auto.from_pretrained(str(folder), use_safetensors=True, **options)
            if text:
                processor = transformers.AutoTokenizer.from_pretrained(str(folder), **options)
            else:
                processor = transformers.AutoImageProcessor.from_pretrained(str(folder), **options)
        except Exception as exc:
            raise ModelLoadError(
                f"transformers cannot load the folder: {type(exc).__name__}: {first_line(exc)}",
                file=folder,
                key=request.at("path"),
            ) from None
        model.eval()
        _check_classes(model.config, request)
        if text:
            box = HuggingFaceText(model, processor)
            return Predictor(info=info, score=box.scorer(), output="logits", module=model, text=box)
        return Predictor(info=info, score=_image_scorer(model, processor), output="logits")


def _read_config(folder: Path, request: LoadRequest) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        data = loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"no readable config.json: {first_line(exc)}", file=path, key=request.at("path")
        ) from None
    if not isinstance(data, dict):
        raise ModelLoadError("config.json is not an object", file=path, key=request.at("path"))
    return data


def _refuse_unsafe(folder: Path, config: dict[str, Any], request: LoadRequest) -> None:
    if "auto_map" in config:
        raise ModelLoadError(
            "the model folder asks for its own Python code (config.json auto_map); modelgate "
            "never runs remote code",
            file=folder / "config.json",
            key=request.at("path"),
            hint="use a model class that ships with transformers",
        )
    if not any((folder / name).is_file() for name in _SAFE_WEIGHTS):
        pickled = [name for name in _PICKLED if (folder / name).is_file()]
        detail = f" (found {', '.join(pickled)}: pickle-based, refused)" if pickled else ""
        raise ModelLoadError(
            f"the model folder has no model.safetensors{detail}",
            file=folder,
            key=request.at("path"),
            hint="save it with save_pretrained(..., safe_serialization=True), or convert the "
            "weights to safetensors on a machine you trust",
        )


def _check_classes(config: Any, request: LoadRequest) -> None:
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    names = [id2label.get(i, f"LABEL_{i}") for i in range(len(id2label))]
    if request.classes is None or names == list(request.classes):
        return
    raise ModelLoadError(
        f"the model's classes (id2label) are {names[:10]}, the suite's are "
        f"{list(request.classes)[:10]}: the scores would be read in the wrong order",
        file=request.path / "config.json" if request.path else None,
        key=request.at("path"),
        hint="set id2label/label2id in config.json to the suite's classes, in the suite's order",
    )


class HuggingFaceText:
    """A sequence classifier and its tokenizer: scores raw texts, and exposes its embeddings
    for the text trigger inversion (see `models.interface.TextWhiteBox`)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        limits = [
            getattr(model.config, "max_position_embeddings", None),
            tokenizer.model_max_length,
        ]
        self.max_length = int(min(v for v in limits if isinstance(v, int) and v > 0) or 512)
        self.special_ids = tuple(sorted(set(int(i) for i in tokenizer.all_special_ids)))
        probe = tokenizer("x")["input_ids"]
        self.prefix = 1 if probe and int(probe[0]) in self.special_ids else 0

    def encode(self, texts: Sequence[str]) -> tuple[Any, Any]:
        enc = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return enc["input_ids"], enc["attention_mask"]

    def embeddings(self) -> Any:
        return self.model.get_input_embeddings().weight

    def logits(self, embeds: Any, attention_mask: Any) -> Any:
        return self.model(inputs_embeds=embeds, attention_mask=attention_mask).logits

    def token(self, token_id: int) -> str:
        return str(self.tokenizer.convert_ids_to_tokens(int(token_id)))

    def vocabulary(self) -> list[str]:
        """Whole-word entries, by id (word-level and WordPiece vocabularies put frequent first)."""
        vocab = self.tokenizer.get_vocab()
        words = sorted(vocab.items(), key=lambda kv: kv[1])
        special = set(self.special_ids)
        return [
            w for w, i in words if i not in special and w.isprintable() and not w.startswith("##")
        ]

    def scorer(self) -> Any:
        import torch

        def score(batch: Any) -> np.ndarray:
            ids, mask = self.encode([str(t) for t in batch])
            with torch.inference_mode():
                out = self.model(input_ids=ids, attention_mask=mask).logits
            return out.float().numpy()

        score.vocabulary = self.vocabulary()  # type: ignore[attr-defined]
        return score


def _image_scorer(model: Any, processor: Any) -> Any:
    import torch

    def score(batch: Any) -> np.ndarray:
        images = np.asarray(batch)
        rescale = images.dtype == np.uint8  # float canaries are taken to be in [0, 1] already
        channels = "channels_first" if images.ndim == 4 and images.shape[1] in (1, 3) else None
        inputs = processor(
            images=list(images),
            return_tensors="pt",
            do_rescale=rescale,
            input_data_format=channels,
        )
        with torch.inference_mode():
            out = model(pixel_values=inputs["pixel_values"]).logits
        return out.float().numpy()

    return score
