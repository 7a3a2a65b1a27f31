"""One escaping function per output kind: what each guarantees, for any text at all."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelgate.report.escape import (
    log_json,
    markdown_text,
    terminal_lines,
    terminal_text,
    visible_text,
    workflow_data,
    xml_text,
)

HOSTILE = st.text(
    alphabet=st.sampled_from(
        [":", "#", "[", "]", "\n", "\r", "\x1b", "\x9b", "\u202e", "\u2028", "%", "a", " "]
    )
    | st.characters(),
    max_size=60,
)


@given(HOSTILE)
def test_terminal_text_is_one_line_that_no_runner_executes(text: str) -> None:
    out = terminal_text(text)
    assert "::" not in out and "##[" not in out
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", out)


@given(HOSTILE)
def test_terminal_lines_keeps_line_breaks_and_defuses_each_line(text: str) -> None:
    out = terminal_lines(text)
    assert out.count("\n") == text.count("\n")
    for line in out.split("\n"):
        assert not line.lstrip().startswith("::") and "##[" not in line


@given(st.recursive(st.none() | st.booleans() | st.integers() | HOSTILE, lambda c: st.lists(c)))
def test_log_json_parses_back_to_the_same_value(value: object) -> None:
    text = log_json(json.dumps(value, indent=2))
    assert json.loads(text) == value
    assert "::" not in text and "##[" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("::error::pwned", ":\\u003aerror:\\u003apwned"),
        ("label ##[error]x", "label #\\u0023[error]x"),
        ("\x1b[2Jclear", "\\u001b[2Jclear"),
        ("a\nb", "a\\nb"),
        ("plain label", "plain label"),
    ],
)
def test_terminal_text_examples(text: str, expected: str) -> None:
    assert terminal_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://evil.example/x", "see https\\://evil.example/x"),
        ("HTTP://EVIL", "HTTP\\://EVIL"),
        ("www.evil.example", "www\\.evil.example"),
        ("mail a@b.example", "mail a@\u200bb.example"),
        ("ratio 3:1 is fine", "ratio 3:1 is fine"),
    ],
)
def test_markdown_text_breaks_bare_links(text: str, expected: str) -> None:
    assert markdown_text(text) == expected


@given(st.text(max_size=40))
def test_markdown_text_never_leaves_an_autolink(text: str) -> None:
    out = markdown_text(text)
    assert not re.search(r"(?i)[a-z0-9]://", out) and not re.search(r"(?i)(?<![a-z0-9])www\.", out)


@given(st.text())
def test_visible_text_and_workflow_data_stay_on_one_line(text: str) -> None:
    assert "\n" not in visible_text(text) and "\n" not in workflow_data(text)


@given(st.text())
def test_xml_text_is_always_xml(text: str) -> None:
    import xml.etree.ElementTree as ET

    element = ET.Element("x")
    element.text = xml_text(text)
    ET.fromstring(ET.tostring(element))
