"""A torch module as a Predictor: shared by the torch formats, in-process and in the sandbox."""

from __future__ import annotations

import contextlib
from typing import Any

from modelgate.models.interface import Predictor
from modelgate.result import ModelInfo


def torch_predictor(module: Any, info: ModelInfo, output: str) -> Predictor:
    # A torch.export module refuses .eval(): its mode was fixed when it was exported.
    with contextlib.suppress(NotImplementedError):
        module.eval()
    return Predictor(info=info, score=module, output=output, module=module, is_torch=True)
