"""Reading a suite from disk: a text suite's JSON lines are untrusted input (a pull request can
change them), so every malformed line is one error naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelgate.digest import file_sha256
from modelgate.errors import SuiteError
from modelgate.suite.format import load_suite
from modelgate.suite.freeze import init_suite


def _text_suite(folder: Path) -> Path:
    init_suite(
        folder, name="t", modality="text", inputs=["good", "bad", "ugly"],
        labels=["a", "b", "a"], classes=["a", "b"], curated_by="test", source="test",
    )  # fmt: skip
    return folder


@pytest.mark.parametrize(
    "line",
    [
        "{not json",
        "[" * 100_000,
        '{"id": "t-0001", "text": "bad", "n": ' + "9" * 400 + "}",
        '{"id": "t-0001", "text": "bad", "n": ' + "9" * 5000 + "}",
    ],
    ids=["malformed", "nested-too-deep", "integer-beyond-float", "integer-beyond-python"],
)
def test_a_malformed_line_of_a_text_suite_is_named(tmp_path: Path, line: str) -> None:
    folder = _text_suite(tmp_path / "suite")
    inputs = folder / "inputs.jsonl"
    lines = inputs.read_text(encoding="utf-8").splitlines()
    lines[1] = line
    inputs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = folder / "suite.yaml"  # re-frozen: the digests hold, only the line is wrong
    text = manifest.read_text(encoding="utf-8")
    old = text.split("inputs.jsonl: sha256:")[1].split()[0]
    manifest.write_text(text.replace(old, file_sha256(inputs)), encoding="utf-8")
    with pytest.raises(SuiteError, match="malformed JSON") as caught:
        load_suite(folder)
    assert caught.value.file == str(inputs) and caught.value.line == 2
