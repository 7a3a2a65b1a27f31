"""`format: torchscript`: a TorchScript archive; its program is its author's code."""

from __future__ import annotations

from modelgate.models.interface import LoadRequest, ModelLoader, Predictor
from modelgate.models.torch_module import torch_predictor
from modelgate.result import ModelInfo


class TorchScriptLoader(ModelLoader):
    name = "torchscript"
    carries_code = True

    def load(self, request: LoadRequest, info: ModelInfo) -> Predictor:
        import torch

        assert request.path is not None
        module = torch.jit.load(str(request.path), map_location="cpu")
        return torch_predictor(module, info, request.spec.output)
