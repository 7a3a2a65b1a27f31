"""`format: state_dict` (the default): weights that cannot carry code, into the module the team's
own reviewed factory builds. safetensors, or a torch file read with `weights_only=True`."""

from __future__ import annotations

import warnings
from typing import Any

from modelgate.errors import ModelLoadError
from modelgate.models.imports import resolve_reference
from modelgate.models.interface import LoadRequest, ModelLoader, Predictor, first_line
from modelgate.models.torch_module import torch_predictor
from modelgate.result import ModelInfo


class StateDictLoader(ModelLoader):
    name = "state_dict"
    carries_code = False

    def load(self, request: LoadRequest, info: ModelInfo) -> Predictor:
        module = state_dict_module(request)
        return torch_predictor(module, info, request.spec.output)


def read_state(request: LoadRequest) -> dict[str, Any]:
    """The tensors of the weights file; anything beyond plain tensors is refused, never retried
    with an unsafe load."""
    import torch

    path = request.path
    assert path is not None
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise ModelLoadError(
                f"not a valid safetensors file: {first_line(exc)}",
                file=path,
                key=request.at("path"),
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
                key=request.at("path"),
                hint="save weights with safetensors or torch.save(model.state_dict())",
            ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError("not a state dict of tensors", file=path, key=request.at("path"))
    return state


def state_dict_module(request: LoadRequest) -> Any:
    import torch

    spec = request.spec
    if not spec.factory:
        raise ModelLoadError(
            "a state dict needs a factory that builds the module",
            file=request.config_file,
            key=request.at("factory"),
            hint="factory: model.py:build",
        )
    state = read_state(request)
    factory = resolve_reference(
        spec.factory, request.folder, file=request.config_file, key=request.at("factory")
    )
    try:
        module = factory()
    except Exception as exc:
        raise ModelLoadError(
            f"factory raised {type(exc).__name__}: {first_line(exc)}",
            file=request.config_file,
            key=request.at("factory"),
        ) from exc
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(
            f"factory returned {type(module).__name__}, not a torch.nn.Module",
            file=request.config_file,
            key=request.at("factory"),
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"weights do not fit the factory's module: {first_line(exc)}",
            file=request.path,
            key=request.at("factory"),
        ) from None
    return module
