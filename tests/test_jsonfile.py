"""Reading modelgate's JSON records: every way a file can be wrong is one error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelgate.errors import BaselineError
from modelgate.jsonfile import MAX_INT_DIGITS, read_record


def read(path: Path) -> dict:  # type: ignore[type-arg]
    return read_record(path, BaselineError, what="baseline record", key="baseline", hint="bless")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "baseline record not found"),
        (b"{not json", "malformed baseline record: Expecting property name"),
        (b"\xff\xfe{}", "malformed baseline record: 'utf-8' codec"),
        (b"[1, 2]", "malformed baseline record: not a JSON object"),
        (b"[" * 100_000, "malformed baseline record: nested too deeply"),
        (b'{"n": 1' + b"0" * 400 + b"}", "malformed baseline record: an integer of 401 digits"),
        (b'{"n": ' + b"9" * 5000 + b"}", "malformed baseline record: an integer of 5000 digits"),
    ],
)
def test_bad_records_are_one_error_naming_the_file(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "b.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BaselineError) as caught:
        read(path)
    assert caught.value.message.startswith(message)
    assert caught.value.file == str(path)


def test_a_json_object_is_returned_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"format": "x", "n": [1, 2]}', encoding="utf-8")
    assert read(path) == {"format": "x", "n": [1, 2]}


def test_the_longest_integer_allowed_is_still_a_float(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"n": -' + "9" * MAX_INT_DIGITS + "}", encoding="utf-8")
    assert float(read(path)["n"]) < -1e299  # no OverflowError in whoever reads it as a float
