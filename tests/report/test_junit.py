from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from modelgate.report.junit import render, xml_text
from modelgate.result import Finding, GateResult

XSD = Path(__file__).parent / "data" / "junit.xsd"
XS = "{http://www.w3.org/2001/XMLSchema}"

# What the schema in data/junit.xsd allows, written out so the structure is checked even where
# xmlschema is not installed: element -> (required attributes, optional attributes, children).
STRUCTURE: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": (
        set(),
        {"name", "tests", "failures", "errors", "skipped", "time"},
        {"testsuite"},
    ),
    "testsuite": (
        {"name", "tests", "failures", "errors", "skipped"},
        {"time", "timestamp"},
        {"properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, set(), set()),
    "testcase": (
        {"name", "classname"},
        {"time"},
        {"skipped", "failure", "error", "system-out", "system-err"},
    ),
    "failure": ({"type"}, {"message"}, set()),
    "error": ({"type"}, {"message"}, set()),
    "skipped": (set(), {"message"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}


def _xsd_structure() -> dict[str, tuple[set[str], set[str], set[str]]]:
    """Read the same table out of the XSD, so the two cannot drift apart."""
    schema = ET.parse(XSD).getroot()
    types = {t.get("name"): t for t in schema.findall(f"{XS}complexType")}
    out = {}
    for element in schema.findall(f"{XS}element"):
        body = element.find(f"{XS}complexType")
        if body is None:
            body = types.get(element.get("type"))
        attrs = [] if body is None else body.iter(f"{XS}attribute")
        required, optional = set(), set()
        for a in attrs:
            (required if a.get("use") == "required" else optional).add(a.get("name"))
        children = set() if body is None else {e.get("ref") for e in body.iter(f"{XS}element")}
        out[element.get("name")] = (required, optional, children)
    return out


def _validate_structure(element: ET.Element) -> None:
    required, optional, children = STRUCTURE[element.tag]
    assert required <= set(element.attrib), (element.tag, element.attrib)
    assert set(element.attrib) <= required | optional, (element.tag, element.attrib)
    for key in {"tests", "failures", "errors", "skipped"} & set(element.attrib):
        assert element.attrib[key].isdigit()
    problems = [c for c in element if c.tag in {"failure", "error", "skipped"}]
    assert len(problems) <= 1, element.tag
    for child in element:
        assert child.tag in children, (element.tag, child.tag)
        _validate_structure(child)


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in root.iter("testcase")}


def test_structure_table_matches_the_xsd() -> None:
    assert _xsd_structure() == STRUCTURE


@pytest.mark.parametrize("fixture", ["failing_result", "passing_result"])
def test_reports_follow_the_schema_structure(fixture: str, request: pytest.FixtureRequest) -> None:
    _validate_structure(ET.fromstring(render(request.getfixturevalue(fixture))))


@pytest.mark.parametrize("fixture", ["failing_result", "passing_result"])
def test_reports_validate_against_the_xsd(fixture: str, request: pytest.FixtureRequest) -> None:
    xmlschema = pytest.importorskip("xmlschema")  # optional: not a dependency of modelgate
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(render(request.getfixturevalue(fixture)))
    with pytest.raises(xmlschema.XMLSchemaValidationError):  # the schema has teeth
        schema.validate(
            '<testsuite name="m" tests="1" failures="0" errors="0" skipped="0">'
            '<testcase name="x"/></testsuite>'
        )


def test_structure_check_rejects_a_case_without_classname() -> None:
    bad = ET.fromstring(
        '<testsuites><testsuite name="m" tests="1" failures="0" errors="0" '
        'skipped="0"><testcase name="x"/></testsuite></testsuites>'
    )
    with pytest.raises(AssertionError):
        _validate_structure(bad)


def test_one_suite_with_one_case_per_check_and_counts(failing_result: GateResult) -> None:
    root = ET.fromstring(render(failing_result))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "modelgate"
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "5", "failures": "2", "errors": "0", "skipped": "1",
    }  # fmt: skip
    assert suite.get("time") == "90.500"
    assert suite.get("timestamp") == "2024-06-01T10:00:00"
    cases = _cases(root)
    assert list(cases) == ["accuracy", "flips", "protected", "destination", "probes"]
    assert {c.get("classname") for c in cases.values()} == {"modelgate"}
    assert len(cases["accuracy"]) == 0
    assert cases["probes"].find("skipped").get("message") == "no probes configured"


def test_failure_carries_the_findings_and_their_evidence(failing_result: GateResult) -> None:
    failure = _cases(ET.fromstring(render(failing_result)))["flips"].find("failure")
    finding = failing_result.check("flips").findings[0]
    assert failure.get("type") == "flips"
    assert failure.get("message") == finding.message
    body = failure.text or ""
    assert finding.message in body
    assert "test: mcnemar_exact, statistic: 11.0, p-value: 0.0001235" in body
    assert "canaries (8): hostile-0, hostile-1" in body
    assert "expected: 2.34568" in body


def test_warning_passes_with_findings_in_system_out(failing_result: GateResult) -> None:
    case = _cases(ET.fromstring(render(failing_result)))["destination"]
    assert case.find("failure") is None and case.find("skipped") is None
    out = case.find("system-out").text or ""
    assert out.startswith("WARNING: drift into class 7")
    assert "Many-to-one drift into class 7" in out and "p-value: 0.04" in out


def test_hostile_text_round_trips_exactly(failing_result: GateResult) -> None:
    text = render(failing_result)
    assert "<script>" not in text and "<b>bold" not in text
    failure = _cases(ET.fromstring(text))["protected"].find("failure")
    assert failure.get("message") == "Protected canary img-0001 flipped 7 -> 1 | <b>bold</b>"
    assert "canaries (2): img-0001, ::error::x" in (failure.text or "")


def test_characters_xml_cannot_carry_are_shown_not_dropped(failing_result: GateResult) -> None:
    hostile = Finding("flips", 'nul\x00 esc\x1b[31m "quoted"\nnext', canaries=("id\x0b<&>",))
    check = replace(failing_result.check("flips"), name="fl\x07ips", findings=(hostile,))
    result = replace(failing_result, checks=(check,), notes=("note\x1b",))
    root = ET.fromstring(render(result))
    case = next(root.iter("testcase"))
    assert case.get("name") == "fl\\u0007ips"
    failure = case.find("failure")
    assert failure.get("message") == 'nul\\u0000 esc\\u001b[31m "quoted"\nnext'
    assert "id\\u000b<&>" in (failure.text or "")
    assert xml_text("ok\ttab\r\n") == "ok\ttab\r\n"


def test_passing_result_has_no_failures(passing_result: GateResult) -> None:
    root = ET.fromstring(render(passing_result))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "0", "1")
    assert not list(root.iter("failure"))
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["verdict"] == "passed"
    assert props["candidate.sha256"] == passing_result.candidate.sha256


def test_missing_times_still_give_a_valid_report(passing_result: GateResult) -> None:
    result = replace(passing_result, started_at="", finished_at="soon")
    suite = ET.fromstring(render(result)).find("testsuite")
    assert suite.get("time") == "0" and "timestamp" not in suite.attrib


def test_render_is_deterministic(failing_result: GateResult) -> None:
    assert render(failing_result) == render(failing_result)
