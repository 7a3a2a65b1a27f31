"""`modelgate history` text: a canary id or label from a suite stays on its own line."""

from __future__ import annotations

from modelgate.history.render import _table, _tag_text


def test_a_line_break_in_a_cell_is_shown_not_printed() -> None:
    text = _table(["id", "label"], [["a\nb", "x\u202ey"], ["c", "d"]])
    lines = text.splitlines()
    assert len(lines) == 3  # header and two rows: the id's break did not split a row
    assert "a\\nb" in lines[1] and "x\\u202ey" in lines[1]


def test_a_tag_name_is_shown_on_one_line() -> None:
    assert _tag_text("hostile\ntag", []).splitlines()[0] == "tag hostile\\ntag: 0 runs"
