"""Load a model spec into a Predictor, safely.

Weights-only formats (safetensors, a torch file read with `weights_only=True`) plus the team's own
factory are the default. Formats that carry their author's code (torch.export, TorchScript, a
Python callable) are refused unless `allow_code: true`, and the report says which kind ran.
Nothing here ever unpickles an arbitrary object, and no failure falls back to an unsafe load.
Loading and every call of the model run under `inference.timeout_s` (see `watchdog`).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelgate.config import ModelSpec
from modelgate.digest import file_sha256
from modelgate.errors import ModelLoadError
from modelgate.models.imports import resolve_reference
from modelgate.models.interface import Predictor
from modelgate.result import ModelInfo
from modelgate.watchdog import deadline

CODE_FORMATS = frozenset({"export", "torchscript", "callable"})
_EXTENSIONS = {
    ".safetensors": "state_dict",
    ".pt": "state_dict",
    ".pth": "state_dict",
    ".bin": "state_dict",
    ".pt2": "export",
    ".ts": "torchscript",
    ".jit": "torchscript",
    ".torchscript": "torchscript",
    ".onnx": "onnx",
}


def infer_format(spec: ModelSpec) -> str:
    if spec.format != "auto":
        return spec.format
    if spec.callable:
        return "callable"
    assert spec.path is not None
    found = _EXTENSIONS.get(Path(spec.path).suffix.lower())
    if found is None:
        raise ModelLoadError(
            f"cannot tell the format of {spec.path!r} from its extension",
            hint="set format: state_dict|export|torchscript|callable",
        )
    return found


def load_predictor(
    spec: ModelSpec,
    folder: Path,
    *,
    config_file: Path,
    key: str,
    timeout_s: float | None = None,
) -> Predictor:
    """Load the model that `spec` (the config's `key`) names; paths resolve against `folder`.

    With `timeout_s`, loading and each later call of the model's score function are bounded."""
    fmt = infer_format_at(spec, config_file, key)
    if fmt in CODE_FORMATS and not spec.allow_code:
        raise ModelLoadError(
            f"format {fmt!r} runs its author's code, and allow_code is false (the default)",
            file=config_file,
            key=f"{key}.allow_code",
            hint="ship a state dict (safetensors) and a reviewed factory, or set "
            "allow_code: true for a model whose code you trust",
        )
    path = (folder / spec.path).resolve() if spec.path else None
    source = path if path is not None else config_file
    try:
        with deadline(timeout_s, "loading the model", file=source):
            predictor = _load(spec, fmt, folder, path, config_file, key)
    except SystemExit as exc:
        raise _exited(exc, "loading", source, key) from None
    return replace(predictor, score=_guarded(predictor.score, timeout_s, source, key))


def _guarded(score: Any, seconds: float | None, source: Path, key: str) -> Any:
    """`score` under the deadline; a model calling sys.exit() must not end modelgate's run
    with the model's chosen exit code (`exit(0)` would read as a pass)."""

    def run(batch: Any) -> Any:
        try:
            with deadline(seconds, "the model scoring one batch", file=source):
                return score(batch)
        except SystemExit as exc:
            raise _exited(exc, "scoring a batch", source, key) from None

    return run


def _exited(exc: SystemExit, doing: str, source: Path, key: str) -> ModelLoadError:
    return ModelLoadError(
        f"the model called sys.exit({exc.code!r}) while {doing}: refused, nothing decided",
        file=source,
        key=key,
    )


def _load(
    spec: ModelSpec, fmt: str, folder: Path, path: Path | None, config_file: Path, key: str
) -> Predictor:
    if path is not None and not path.is_file():
        raise ModelLoadError("model file not found", file=path, key=f"{key}.path")
    sha = file_sha256(path) if path is not None else ""
    info = ModelInfo(
        path=spec.path or spec.callable or "",
        format=fmt,
        sha256=sha,
        carries_code=fmt in CODE_FORMATS,
    )
    if fmt == "callable":
        return _load_callable(spec, folder, path, info, config_file, key)
    assert path is not None
    if fmt == "onnx":
        raise ModelLoadError(
            "ONNX models are not supported yet",
            file=path,
            key=f"{key}.format",
            hint="export a state dict (safetensors) or a torch.export archive",
        )
    module = _load_torch_module(fmt, spec, folder, path, config_file, key)
    return _torch_predictor(module, info, spec.output)


def infer_format_at(spec: ModelSpec, config_file: Path, key: str) -> str:
    try:
        return infer_format(spec)
    except ModelLoadError as exc:
        raise ModelLoadError(
            exc.message, file=config_file, key=f"{key}.path", hint=exc.hint
        ) from None


def _load_torch_module(
    fmt: str, spec: ModelSpec, folder: Path, path: Path, config_file: Path, key: str
) -> Any:
    import torch

    try:
        if fmt == "state_dict":
            return _state_dict_module(spec, folder, path, config_file, key)
        if fmt == "export":
            return torch.export.load(str(path)).module()
        if fmt == "torchscript":
            return torch.jit.load(str(path), map_location="cpu")
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load {fmt} model: {type(exc).__name__}: {_first_line(exc)}",
            file=path,
            key=f"{key}.path",
        ) from exc
    raise ModelLoadError(f"unknown format {fmt!r}", file=config_file, key=f"{key}.format")


def _state_dict_module(
    spec: ModelSpec, folder: Path, path: Path, config_file: Path, key: str
) -> Any:
    import torch

    if not spec.factory:
        raise ModelLoadError(
            "a state dict needs a factory that builds the module",
            file=config_file,
            key=f"{key}.factory",
            hint="factory: model.py:build",
        )
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise ModelLoadError(
                f"not a valid safetensors file: {_first_line(exc)}", file=path, key=f"{key}.path"
            ) from None
    else:
        try:
            with warnings.catch_warnings():  # torch warns about odd pickles; we refuse them anyway
                warnings.simplefilter("ignore")
                state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError and friends: refuse, never retry unsafely
            raise ModelLoadError(
                "refused: the file holds pickled objects beyond plain tensors "
                f"({type(exc).__name__})",
                file=path,
                key=f"{key}.path",
                hint="save weights with safetensors or torch.save(model.state_dict())",
            ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError("not a state dict of tensors", file=path, key=f"{key}.path")
    factory = resolve_reference(spec.factory, folder, file=config_file, key=f"{key}.factory")
    try:
        module = factory()
    except Exception as exc:
        raise ModelLoadError(
            f"factory raised {type(exc).__name__}: {_first_line(exc)}",
            file=config_file,
            key=f"{key}.factory",
        ) from exc
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(
            f"factory returned {type(module).__name__}, not a torch.nn.Module",
            file=config_file,
            key=f"{key}.factory",
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"weights do not fit the factory's module: {_first_line(exc)}",
            file=path,
            key=f"{key}.factory",
        ) from None
    return module


def _torch_predictor(module: Any, info: ModelInfo, output: str) -> Predictor:
    # A torch.export module refuses .eval(): its mode was fixed when it was exported.
    with contextlib.suppress(NotImplementedError):
        module.eval()
    return Predictor(info=info, score=module, output=output, module=module, is_torch=True)


def _load_callable(
    spec: ModelSpec, folder: Path, path: Path | None, info: ModelInfo, config_file: Path, key: str
) -> Predictor:
    assert spec.callable is not None
    function = resolve_reference(spec.callable, folder, file=config_file, key=f"{key}.callable")
    if path is not None:
        # With a model file the callable is a loader: fn(path) -> predict function.
        try:
            function = function(path)
        except Exception as exc:
            raise ModelLoadError(
                f"loading {path.name} raised {type(exc).__name__}: {_first_line(exc)}",
                file=config_file,
                key=f"{key}.callable",
            ) from exc
        if not callable(function):
            raise ModelLoadError(
                "the loader must return a function over a batch of inputs",
                file=config_file,
                key=f"{key}.callable",
            )
    return Predictor(info=info, score=function, output=spec.output)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
