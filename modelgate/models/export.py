"""`format: export`: a `torch.export` archive (`.pt2`). Its graph is its author's code."""

from __future__ import annotations

from modelgate.models.interface import LoadRequest, ModelLoader, Predictor
from modelgate.models.torch_module import torch_predictor
from modelgate.result import ModelInfo


class ExportLoader(ModelLoader):
    name = "export"
    carries_code = True

    def load(self, request: LoadRequest, info: ModelInfo) -> Predictor:
        import torch

        assert request.path is not None
        module = torch.export.load(str(request.path)).module()
        return torch_predictor(module, info, request.spec.output)
