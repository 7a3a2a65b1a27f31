"""GitHub rendering: workflow-command escaping, annotation order and cap, summary cut, outputs."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelgate.report import github
from modelgate.result import Check, Finding, GateResult, Status

# What the runner decodes in a command's message and in its property values.
_UNESCAPE = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}


def unescape(text: str) -> str:
    return re.sub(r"%25|%0D|%0A|%3A|%2C", lambda m: _UNESCAPE[m.group()], text)


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """Split a workflow command as the runner does: `::name k=v,k=v::message`."""
    assert line.startswith("::") and "\n" not in line and "\r" not in line
    head, _, message = line[2:].partition("::")
    name, _, props = head.partition(" ")
    pairs = dict(p.split("=", 1) for p in props.split(",")) if props else {}
    return name, {k: unescape(v) for k, v in pairs.items()}, unescape(message)


def parse_file_commands(text: str) -> dict[str, str]:
    """Read a GITHUB_OUTPUT / GITHUB_ENV file as the runner does (both forms)."""
    values: dict[str, str] = {}
    lines = iter(re.split(r"\r\n|\r|\n", text))  # the runner reads lines as .NET ReadLine does
    for line in lines:
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            values[line[:eq]] = line[eq + 1 :]
            continue
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        body = []
        for inner in lines:
            if inner == delimiter:
                break
            body.append(inner)
        else:
            raise AssertionError(f"heredoc {delimiter} never closed")
        values[name] = "\n".join(body)
    return values


def test_escaping_follows_githubs_rules() -> None:
    assert github.escape_data("100% \r\n ok::x,y") == "100%25 %0D%0A ok::x,y"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


@given(st.text())
def test_any_text_stays_one_command_and_round_trips(text: str) -> None:
    line = github.command("error", text, file=text, title=text)
    name, props, message = parse_command(line)
    assert name == "error"
    assert message == github.visible_text(text)
    assert props["title"] == github.visible_text(text) if text else "title" not in props


def _finding_result(
    make_result: Callable[..., GateResult], statuses_p: list[tuple[Status, float | None]]
) -> GateResult:
    checks = tuple(
        Check(f"check{i:02d}", status, "s", (Finding(f"check{i:02d}", f"finding {i}", p_value=p),))
        for i, (status, p) in enumerate(statuses_p)
    )
    return dataclasses.replace(make_result(failing=True), checks=checks)


def test_worst_findings_first_and_capped(make_result: Callable[..., GateResult]) -> None:
    spec: list[tuple[Status, float | None]] = [(Status.WARNED, 1e-9)]
    spec += [(Status.FAILED, 0.5 / (i + 1)) for i in range(12)] + [(Status.FAILED, None)]
    result = _finding_result(make_result, spec)
    lines = github.annotation_lines(result)
    assert len(lines) == 11  # 10 annotations and the notice of the rest
    parsed = [parse_command(line) for line in lines]
    assert [p[0] for p in parsed[:10]] == ["error"] * 10
    assert parsed[0][2] == "finding 13"  # a hard failure (no p-value) leads
    p_values = [
        result.check(p[1]["title"].split()[-1]).findings[0].p_value or 0.0 for p in parsed[1:10]
    ]
    assert p_values == sorted(p_values)  # then smallest p-value first
    assert parsed[10][0] == "notice" and parsed[10][2].startswith("4 more finding(s)")
    # Uncapped, the warned finding comes after every failed one, as a warning.
    everything = [parse_command(line) for line in github.annotation_lines(result, limit=100)]
    assert everything[-1][0] == "warning" and everything[-1][2] == "finding 0"


def test_hostile_text_cannot_break_out(failing_result: GateResult) -> None:
    hostile = Check(
        "x,y::z", Status.FAILED, "s", (Finding("x", "a\n::error::pwned %0A\r\u202e<b>|*"),)
    )
    result = dataclasses.replace(failing_result, checks=(*failing_result.checks, hostile))

    def locate(check: Check, finding: Finding) -> github.Location:
        return github.Location("dir,x::error::y/modelgate.yaml", 3)

    lines = github.annotation_lines(result, locate=locate)
    assert len(lines) == 4
    for line in lines:
        assert re.match(r"^::(error|warning) file=", line)
        assert "\n" not in line and "\r" not in line and "\u202e" not in line
        assert re.search(r"%(?!25|0D|0A|3A|2C)", line) is None  # every % starts an escape
        props = line[2:].partition("::")[0]
        assert ":" not in props and props.count(",") == 2  # exactly file, line and title
        _, parsed, _ = parse_command(line)
        assert parsed["file"] == "dir,x::error::y/modelgate.yaml" and parsed["line"] == "3"
    pwned = next(line for line in lines if "pwned" in line)
    assert pwned.endswith("::a\\n::error::pwned %250A\\r\\u202e<b>|*")
    assert parse_command(pwned)[1]["title"] == "modelgate x,y::z"


def test_step_summary_is_cut_at_a_line_under_the_cap(
    make_result: Callable[..., GateResult],
) -> None:
    result = make_result(failing=True, n_extra_flips=400)
    full = github.step_summary(result, "the modelgate-report artifact")
    assert "was cut" not in full
    assert len(full.encode()) > 8_000
    cut = github.step_summary(result, "the modelgate-report artifact", limit_bytes=8_000)
    assert 7_000 < len(cut.encode()) <= 8_000
    body, _, note = cut.partition("\n\n---\n\n")
    assert note
    assert full.startswith(body + "\n")  # whole lines of the report, nothing rewritten
    assert "the modelgate-report artifact" in note and "1 MiB" in note


def test_outputs_and_output_file_round_trip(failing_result: GateResult, tmp_path: Path) -> None:
    paths = {"json": tmp_path / "r.json", "markdown": tmp_path / "r.md"}
    values = github.outputs(failing_result, paths)
    assert values["verdict"] == "failed" and values["exit-code"] == "1"
    assert values["findings"] == str(len(failing_result.findings))
    assert values["failed-checks"] == "flips,protected"
    assert values["report-json"] == str(tmp_path / "r.json") and values["report-junit"] == ""
    values["multi"] = "line one\nline two\nghadelimiter_x"
    target = tmp_path / "output"
    target.write_text("earlier=1\n")
    github.write_outputs(target, values)
    assert parse_file_commands(target.read_text()) == {"earlier": "1", **values}


@given(st.text())
def test_a_value_cannot_smuggle_another_output(value: str) -> None:
    text = github.format_outputs({"value": value, "after": "ok"})
    parsed = parse_file_commands(text)
    assert set(parsed) == {"value", "after"} and parsed["after"] == "ok"
    assert "\r" in value or parsed["value"] == value


@pytest.mark.parametrize("name", ["", "a=b", "a\nb", "a<<b"])
def test_bad_output_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        github.format_outputs({name: "x"})
