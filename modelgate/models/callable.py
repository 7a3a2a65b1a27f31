"""`format: callable`: a Python `module:function` over a batch of raw inputs (a black box).

With a model file, the function is a loader: `fn(path) -> predict function`.
"""

from __future__ import annotations

from modelgate.errors import ModelLoadError
from modelgate.models.imports import resolve_reference
from modelgate.models.interface import LoadRequest, ModelLoader, Predictor, first_line
from modelgate.result import ModelInfo


class CallableLoader(ModelLoader):
    name = "callable"
    carries_code = True

    def load(self, request: LoadRequest, info: ModelInfo) -> Predictor:
        spec = request.spec
        assert spec.callable is not None
        key = request.at("callable")
        function = resolve_reference(
            spec.callable, request.folder, file=request.config_file, key=key
        )
        if request.path is not None:
            try:
                function = function(request.path)
            except Exception as exc:
                raise ModelLoadError(
                    f"loading {request.path.name} raised {type(exc).__name__}: {first_line(exc)}",
                    file=request.config_file,
                    key=key,
                ) from exc
            if not callable(function):
                raise ModelLoadError(
                    "the loader must return a function over a batch of inputs",
                    file=request.config_file,
                    key=key,
                )
        return Predictor(info=info, score=function, output=spec.output)
