"""The sandbox's child process: confine itself, load one code-bearing model, then answer
scoring (and gradient) requests over its pipes until told to stop.

Runs `python -I`, started by `sandbox.py`; the first frame says what to load and which limits to
apply. Everything the model prints goes to stderr, never onto the protocol pipe.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from modelgate.models.confine import confine
from modelgate.models.wire import read_frame, read_header, write_frame

MAX_VOCABULARY = 200_000


def _error(out: IO[bytes], exc: BaseException, stage: str) -> None:
    from modelgate.errors import ModelgateError

    message = str(getattr(exc, "message", "") or exc).strip()
    error = {
        "stage": stage,
        "type": type(exc).__name__,
        "message": (message.splitlines()[0] if message else "")[:500],
        "memory": isinstance(exc, MemoryError) or "can't allocate memory" in message,
    }
    if isinstance(exc, ModelgateError):
        error.update(key=exc.key, hint=exc.hint, modelgate=type(exc).__name__)
    write_frame(out, {"error": error})


def _load(init: dict[str, Any]) -> Any:
    from pathlib import Path

    from modelgate.config import ModelSpec
    from modelgate.models.interface import LoadRequest
    from modelgate.models.load import loader_for
    from modelgate.result import ModelInfo

    spec = ModelSpec.model_validate(init["spec"])
    request = LoadRequest(
        spec=spec,
        folder=Path(init["folder"]),
        path=Path(init["path"]) if init["path"] else None,
        config_file=Path(init["config_file"]),
        key=init["key"],
    )
    info = ModelInfo(init["spec"].get("path") or "", init["format"], "", True)
    return loader_for(init["format"]).load(request, info)


def _vocabulary(score: Any) -> list[str] | None:
    vocab = getattr(score, "vocabulary", None)
    if isinstance(vocab, (list, tuple)) and all(isinstance(w, str) for w in vocab):
        return list(vocab)[:MAX_VOCABULARY]
    return None


def _score(predictor: Any, header: dict[str, Any], arrays: list[Any]) -> list[Any]:
    import numpy as np

    batch: Any = header["texts"] if "texts" in header else arrays[0]
    if not predictor.is_torch:
        raw = predictor.score(batch)
        try:
            return [np.asarray(raw, dtype=np.float64)]
        except (TypeError, ValueError):
            raise TypeError(f"model returned {type(raw).__name__} that is not numeric") from None
    import torch

    _threads(header)
    with torch.inference_mode():
        out = predictor.score(torch.from_numpy(batch))
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"model returned {type(out).__name__}, not a tensor")
    return [out.detach().float().numpy()]


def _features(predictor: Any, header: dict[str, Any], arrays: list[Any]) -> list[Any]:
    """The callable's `.features` for a batch, shape-checked before it crosses the pipe (the
    parent checks again: nothing in this process is trusted)."""
    from modelgate.models.features import checked_features, features_of

    fn = None if predictor.is_torch else features_of(predictor.score)
    if fn is None:
        raise TypeError("the model exposes no .features")
    batch: Any = header["texts"] if "texts" in header else arrays[0]
    return [checked_features(fn(batch), len(batch), None)]


def _grad(predictor: Any, header: dict[str, Any], arrays: list[Any]) -> list[Any]:
    import torch

    _threads(header)
    x = torch.from_numpy(arrays[0]).requires_grad_(True)
    out = predictor.module(x)
    (grad,) = torch.autograd.grad(out, x, torch.from_numpy(arrays[1]).to(out.dtype))
    return [grad.detach().numpy()]


def _threads(header: dict[str, Any]) -> None:
    import torch

    threads = int(header.get("threads") or 0)
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def main() -> None:
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # the model's prints go to stderr, never onto the protocol pipe
    init = read_header(inp)
    limits = init["limits"]
    layers = confine(init["workdir"], limits["cpu_s"], limits["memory_mb"], limits["file_mb"])
    if init.get("require") and not (layers["network"] and layers["writes"]):
        write_frame(out, {"refused": layers})
        return
    try:
        predictor = _load(init)
    except BaseException as exc:  # everything is reported, nothing escapes
        _error(out, exc, "load")
        return
    vocabulary = _vocabulary(predictor.score)
    from modelgate.models.features import features_of

    features = not predictor.is_torch and features_of(predictor.score) is not None
    write_frame(
        out,
        {
            "ready": True,
            "layers": layers,
            "is_torch": bool(predictor.is_torch),
            "white_box": predictor.module is not None,
            "vocabulary": vocabulary,
            "features": features,
        },
    )
    while True:
        header, arrays = read_frame(inp)
        op = header.get("op")
        if op == "close":
            return
        try:
            if op == "grad":
                result = _grad(predictor, header, arrays)
            elif op == "features":
                result = _features(predictor, header, arrays)
            else:
                result = _score(predictor, header, arrays)
        except BaseException as exc:
            _error(out, exc, "score")
            continue
        write_frame(out, {"ok": True}, result)


if __name__ == "__main__":
    main()
    sys.exit(0)
