"""The baseline record's header is typed in one place: what `to_json` writes, `parse_header`
reads back field for field, and a field of the wrong type is refused by its `header.<key>`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelgate.baseline_header import BaselineHeader, BlessedModel, SuiteRef, parse_header
from modelgate.errors import BaselineError

HEADER = BaselineHeader(
    suite=SuiteRef("digits", 3, "sha256:" + "ab" * 32),
    model=BlessedModel("models/m.safetensors", "state_dict", "c0" * 32, False, "in-process"),
    blessed_at="2026-01-01T00:00:00+00:00",
    config_sha256="5e" * 32,
    git_commit="deadbeef",
    modelgate_version="0.1.0",
    classes=("0", "1", "10"),
    forced=True,
    reason="relabelled upstream",
    triggers={"probes": {"patch/2": {"rate": 0.1}}},
)


def test_round_trip() -> None:
    assert parse_header(HEADER.to_json(), Path("b.json")) == HEADER
    assert parse_header(HEADER.without_triggers().to_json(), Path("b.json")).triggers == {}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"suite": "digits"}, "header.suite"),
        ({"model": ["m"]}, "header.model"),
        ({"suite": {"name": "d", "version": "3", "digest": "x"}}, "header.suite.version"),
        ({"suite": {"name": "d", "version": True, "digest": "x"}}, "header.suite.version"),
        ({"model": {"path": "m", "format": "x", "sha256": 7}}, "header.model.sha256"),
        ({"blessed_at": 20260101}, "header.blessed_at"),
        ({"classes": "0,1"}, "header.classes"),
        ({"reason": ["r"]}, "header.reason"),
        ({"forced": "false"}, "header.forced"),
        (
            {"model": {"path": "m", "format": "x", "sha256": "s", "carries_code": "false"}},
            "header.model.carries_code",
        ),
    ],
)
def test_a_field_of_the_wrong_type_is_named(change: dict[str, Any], key: str) -> None:
    data = {**HEADER.to_json(), **change}
    with pytest.raises(BaselineError) as caught:
        parse_header(data, Path("b.json"))
    assert caught.value.key == key and str(caught.value.file) == "b.json"
