"""`format: onnx`: an ONNX graph run by onnxruntime (optional extra `modelgate[onnx]`).

The graph is data: onnxruntime executes its standard operators and no custom-op library is ever
registered. The file's bytes are what runs (read once, hashed, handed to onnxruntime), so a
graph with external data files is refused rather than loaded half-covered by the digest.
Inputs are the suite's numeric arrays (image, tabular); the model is a black box.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelgate.errors import ModelLoadError
from modelgate.models.interface import LoadRequest, ModelLoader, Predictor, first_line
from modelgate.result import ModelInfo

_INSTALL = 'pip install "modelgate[onnx]" (onnxruntime)'
_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
}


class OnnxLoader(ModelLoader):
    name = "onnx"
    carries_code = False

    def load(self, request: LoadRequest, info: ModelInfo) -> Predictor:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelLoadError(
                "ONNX models need onnxruntime",
                file=request.path,
                key=request.at("format"),
                hint=_INSTALL,
            ) from None
        assert request.path is not None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1  # the same float reductions on every machine
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(
                request.path.read_bytes(), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            text = first_line(exc)
            hint = None
            if "external" in text.lower():
                hint = "save the graph with its weights inside (onnx save_as_external_data=False)"
            raise ModelLoadError(
                f"cannot load the ONNX graph: {text}",
                file=request.path,
                key=request.at("path"),
                hint=hint,
            ) from None
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(
                f"the graph takes {len(inputs)} inputs; modelgate feeds one (the canary batch)",
                file=request.path,
                key=request.at("path"),
            )
        return Predictor(info=info, score=_scorer(session, inputs[0]), output=request.spec.output)


def _scorer(session: Any, graph_input: Any) -> Any:
    name = graph_input.name
    dtype = _NUMPY_TYPES.get(graph_input.type, np.float32)
    first = graph_input.shape[0] if graph_input.shape else None
    fixed = first if isinstance(first, int) and first > 0 else None

    def score(batch: Any) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(batch, dtype=dtype))
        if fixed is None or len(x) == fixed:
            return np.asarray(session.run(None, {name: x})[0])
        # A graph exported with a fixed batch size: feed it that many at a time.
        parts = []
        for start in range(0, len(x), fixed):
            chunk = x[start : start + fixed]
            pad = fixed - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
            parts.append(np.asarray(session.run(None, {name: chunk})[0])[: fixed - pad])
        return np.concatenate(parts)

    return score
