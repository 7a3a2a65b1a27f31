from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelgate.report.markdown import MAX_FLIP_ROWS, escape_md, render
from modelgate.result import GateResult

# A pipe preceded by an even number of backslashes (none included) is a real cell separator.
_CELL_PIPE = re.compile(r"(?<!\\)(?:\\\\)*\|")
_UNESCAPE = re.compile(r"\\(.)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain id-42", "plain id-42"),
        ("100%", "100%"),
        ("a|b<script>", "a\\|b\\<script\\>"),
        ("`code` *bold* _it_ ~~s~~", "\\`code\\` \\*bold\\* \\_it\\_ \\~\\~s\\~\\~"),
        ("[click](https://evil.example)", "\\[click\\](https\\://evil.example)"),
        ("&lt;b&gt;", "\\&lt;b\\&gt;"),
        ("$x^2$", "\\$x^2\\$"),
        ("back\\slash", "back\\\\slash"),
        ("line1\nline2\r", "line1\\\\nline2\\\\r"),
        ("\x1b[31mred", "\\\\u001b\\[31mred"),
        ("\u202eevil", "\\\\u202eevil"),
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        ("+ item", "\\+ item"),
        ("12. item", "12\\. item"),
        ("> quote", "\\> quote"),
        ("=== rule", "\\=== rule"),
        ("    indented", "&#32;   indented"),
        ("@org/team ping", "@\u200borg/team ping"),
        ("::error::x", "::error::x"),
        (42, "42"),
    ],
)
def test_escape_md_hostile_strings(text: object, expected: str) -> None:
    assert escape_md(text) == expected


_SAFE_ASCII = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="@"),
    max_size=40,
)


@given(_SAFE_ASCII)
def test_escape_md_only_adds_backslashes(text: str) -> None:
    assert _UNESCAPE.sub(r"\1", escape_md(text)) == text


@given(st.text(max_size=40))
def test_escape_md_is_one_line_and_never_splits_a_cell(text: str) -> None:
    out = escape_md(text)
    assert "\n" not in out and "\r" not in out
    assert not _CELL_PIPE.search(out)
    assert re.search(r"(?<!\\)(?:\\\\)*[<`]", out) is None


def _tables(text: str) -> list[list[str]]:
    tables: list[list[str]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    return tables


def test_every_table_row_has_its_header_s_cell_count(failing_result: GateResult) -> None:
    tables = _tables(render(failing_result))
    assert len(tables) >= 7
    for table in tables:
        widths = {len(_CELL_PIPE.findall(row)) for row in table}
        assert len(widths) == 1, table


def test_failing_report_sections_and_content(failing_result: GateResult) -> None:
    text = render(failing_result)
    assert text.splitlines()[0] == "# modelgate: ❌ failed (2 of 5 checks failed)"
    for needle in [
        "| Suite | digits@3 (ab12ab12ab12) |",
        "models/candidate.pt2 (export), sha256 c0ffee00c0ff",
        "| Candidate carries code | yes: loading it ran its author's code |",
        "blessed 2024-05-01T12:00:00+00:00, commit deadbeefcafe",
        "| Accuracy (baseline → candidate) | 97.50% → 96.90% (-0.60 pt) |",
        "| Negative flips (right → wrong) | 8 |",
        "| Negative flip rate (NFR) | 0.80% |",
        "| Unexplained flips (no waiver) | 9 |",
        "| flips | ❌ failed | — | 8 negative vs 1 positive |",
        "| destination | ⚠️ warned | 0.00125 | drift into class 7 |",
        "| probes | ⏭️ skipped | — | no probes configured |",
        "- ❌ **protected**: Protected canary img-0001 flipped 7 -\\> 1 \\| \\<b\\>bold\\</b\\>",
        "  - test: mcnemar\\_exact, statistic: 11, p-value: 0.0001235",
        "  - evidence: expected = 2\\.34568, observed = 8, pair = (7, 1)",
        "- ⚠️ **destination**: Many-to-one drift",
        "## Flipped canaries (10)",
        "| img-0001 | 7 | 7 → 1 | negative | 0.8123 | -0.4 | protected |  |",
        "| hostile-0 | a\\|b\\<script\\> | a\\|b\\<script\\> → 7 |",
        "| hostile-3 | line1\\\\nline2 |",
        "relabelled upstream (alice) |",
        "### Used (1)",
        "| tag:noisy | 3 | known noisy \\| tag | bob | never | 9 |",
        "### Expired (1)",
        "| tag | protected | 20 | 20 → 19 | 1 | 0 | 0 |",
        "- self-calibrated: no calibration record given",
    ]:
        assert needle in text, needle
    assert "<script>" not in text and "<b>" not in text
    assert "more are listed in the JSON report" not in text


def test_flips_are_ranked_most_alarming_first(failing_result: GateResult) -> None:
    rows = [r for r in render(failing_result).splitlines() if r.startswith("| hostile-")]
    assert rows[0].startswith("| hostile-5 |")  # the most confident regression
    last = render(failing_result).split("## Flipped canaries")[1].split("## ")[0]
    assert last.strip().splitlines()[-1].startswith("| img\\|0004\\<b\\> |")  # waived: last


def test_long_flip_lists_say_how_many_are_left_out(
    make_result: Callable[..., GateResult],
) -> None:
    result = make_result(failing=True, n_extra_flips=250)
    text = render(result)
    table = _tables(text.split("## Flipped canaries")[1])[0]
    assert len(table) == 2 + MAX_FLIP_ROWS
    total = len(result.flips)
    assert f"## Flipped canaries ({total})" in text
    assert (
        f"Showing the {MAX_FLIP_ROWS} most alarming of {total} flips; "
        f"{total - MAX_FLIP_ROWS} more are listed in the JSON report."
    ) in text


def test_passing_report_is_short(passing_result: GateResult) -> None:
    text = render(passing_result)
    assert text.startswith("# modelgate: ✅ passed\n")
    assert "| Candidate carries code | yes" in text
    for absent in ("## Findings", "## Flipped canaries", "## Waivers", "## Notes", "❌"):
        assert absent not in text
    assert render(passing_result) == text


def test_a_model_without_a_file_says_it_has_no_digest(passing_result: GateResult) -> None:
    from dataclasses import replace

    from modelgate.report import console

    result = replace(passing_result, candidate=replace(passing_result.candidate, sha256=""))
    assert "sha256 none: no model file" in render(result)
    assert "sha256 none: no model file" in console.render(result, color=False)
