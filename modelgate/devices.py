"""`inference.device`: where a torch model runs (cpu, cuda, or auto: cuda when there is one).

The device never changes a verdict: inference and probes return to the CPU as log-probabilities
and labels, the trigger search keeps its counts and its CPU-seeded random draws, and cuDNN is
asked for deterministic kernels. What a GPU changes is float rounding in the last digits, far
below the 4 decimals a record keeps. A model confined in the sandbox's subprocess, and a model
without torch parameters, runs on the CPU; the report names the device used.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from modelgate.errors import ConfigError
from modelgate.models.interface import Predictor

Device = Literal["cpu", "cuda", "auto"]
KEY = "inference.device"


def resolve(setting: str, *, config_file: Path | None = None) -> str:
    """The torch device name for a setting: `auto` is cuda when torch sees a GPU, else cpu."""
    if setting == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if setting == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ConfigError(
            "cuda was asked for, but torch sees no CUDA device on this machine",
            file=config_file,
            key=KEY,
            hint="use `device: auto` to fall back to the CPU, or run on a machine with a GPU",
        )
    return "cuda"


def module_device(module: Any) -> str:
    """Where a torch module's weights live ("cpu" for a module without any)."""
    for tensors in (module.parameters(), module.buffers()):
        first = next(iter(tensors), None)
        if first is not None:
            return str(first.device.type)
    return "cpu"


def place(predictor: Predictor, setting: str, *, config_file: Path | None = None) -> Predictor:
    """The predictor with its torch module on the configured device, the device in its info.

    Black-box formats (callables, ONNX, scikit-learn) run where their own code puts them and
    report no device. A torch model without weights torch can move here (one confined in the
    sandbox's subprocess) runs on the CPU: `auto` says so in the report, `cuda` is refused."""
    if not predictor.is_torch:
        return predictor
    device = resolve(setting, config_file=config_file)
    module = predictor.module if predictor.module is not None else predictor.score
    if device != "cpu":
        import torch

        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        if isinstance(module, torch.nn.Module):
            module.to(device)
    used = module_device(module) if hasattr(module, "parameters") else "cpu"
    if setting == "cuda" and used != "cuda":
        raise ConfigError(
            "cuda was asked for, but this model has no weights modelgate can move to the GPU "
            f"({predictor.info.ran or predictor.info.format})",
            file=config_file,
            key=KEY,
            hint="use `device: auto` (it runs such a model on the CPU and says so)",
        )
    return replace(predictor, info=replace(predictor.info, device=used))
