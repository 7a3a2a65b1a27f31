"""The loader family: one module per format, chosen by `format` (or the path), heavy libraries
imported only by their own loader; the sandbox's wire refuses malformed frames."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

from modelgate.config import ModelFormat, ModelSpec
from modelgate.models.load import CODE_FORMATS, LOADERS, infer_format, loader_for
from modelgate.models.wire import WireError, read_frame, write_frame


def test_every_config_format_has_one_loader_module() -> None:
    assert set(LOADERS) == set(typing.get_args(ModelFormat)) - {"auto"}
    for fmt in LOADERS:
        loader = loader_for(fmt)
        assert loader.name == fmt
        assert loader.carries_code == (fmt in CODE_FORMATS)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("m.safetensors", "state_dict"),
        ("m.pt2", "export"),
        ("m.ts", "torchscript"),
        ("m.onnx", "onnx"),
        ("m.skops", "skops"),
        ("hf-folder", "huggingface"),
    ],
)
def test_format_from_the_path(tmp_path: Path, path: str, expected: str) -> None:
    (tmp_path / "hf-folder").mkdir()
    (tmp_path / "hf-folder" / "config.json").write_text("{}")
    assert infer_format(ModelSpec(path=path), tmp_path) == expected


def test_heavy_libraries_are_imported_only_by_their_loader() -> None:
    code = (
        "import sys\n"
        "import modelgate.models.huggingface, modelgate.models.onnx, modelgate.models.skops\n"
        "import modelgate.models.sandbox, modelgate.models.signature\n"
        "heavy = ('torch', 'transformers', 'onnxruntime', 'skops', 'sklearn', 'model_signing')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _frame(header: dict[str, object], payload: bytes = b"") -> io.BytesIO:
    text = json.dumps(header).encode()
    return io.BytesIO(struct.pack("<Q", len(text)) + text + payload)


@pytest.mark.parametrize(
    ("header", "payload", "message"),
    [
        ({"arrays": [{"dtype": "object", "shape": [1], "n": 8}]}, b"x" * 8, "dtype"),
        ({"arrays": [{"dtype": "float32", "shape": [4], "n": 8}]}, b"x" * 8, "bytes"),
        ({"arrays": [{"dtype": "float32", "shape": [2], "n": 8}]}, b"x" * 4, "closed"),
        ({"arrays": [{"dtype": "float32"}]}, b"", "malformed"),
        ({"arrays": "all of them"}, b"", "not an object"),
    ],
)
def test_wire_refuses_malformed_frames(
    header: dict[str, object], payload: bytes, message: str
) -> None:
    with pytest.raises(WireError, match=message):
        read_frame(_frame(header, payload))


def test_wire_refuses_a_huge_header_before_reading_it() -> None:
    with pytest.raises(WireError, match="header of"):
        read_frame(io.BytesIO(struct.pack("<Q", 1 << 40)))


def test_wire_round_trip() -> None:
    buffer = io.BytesIO()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    write_frame(buffer, {"op": "score"}, [x])
    buffer.seek(0)
    header, arrays = read_frame(buffer)
    assert header["op"] == "score"
    np.testing.assert_array_equal(arrays[0], x)
    arrays[0][0, 0] = 1  # writable: torch.from_numpy takes it without a copy warning
