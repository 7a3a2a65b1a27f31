"""The JUnit XML report: one test case per check, so any CI shows the gate like a test run.

Follows the Ant/Jenkins JUnit layout that GitHub, GitLab, Jenkins and Azure all read. Text from
untrusted suites and candidates is escaped by ElementTree; characters XML 1.0 cannot carry at all
(control characters) are replaced by visible escapes, or the file would not parse.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from modelgate.report.escape import xml_text
from modelgate.report.json import jsonable, statistics_text
from modelgate.result import Check, Finding, GateResult, Status

SUITE_NAME = "modelgate"
MAX_FINDING_CANARIES = 100


def render(result: GateResult) -> str:
    """The report as an XML document, ending with a newline."""
    checks = result.checks
    failures = sum(c.status is Status.FAILED for c in checks)
    skipped = sum(c.status is Status.SKIPPED for c in checks)
    counts = {
        "tests": str(len(checks)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": _duration(result.started_at, result.finished_at),
    }
    root = ET.Element("testsuites", {"name": SUITE_NAME, **counts})
    suite_attrs = {"name": SUITE_NAME, **counts}
    timestamp = _ant_timestamp(result.started_at)
    if timestamp:
        suite_attrs["timestamp"] = timestamp
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(result):
        ET.SubElement(properties, "property", {"name": name, "value": xml_text(value)})
    for check in checks:
        _testcase(suite, check)
    notes = [f"verdict: {result.verdict.value}", *result.notes]
    ET.SubElement(suite, "system-out").text = xml_text("\n".join(notes))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"


def _properties(result: GateResult) -> list[tuple[str, str]]:
    s, c, b = result.suite, result.candidate, result.baseline
    return [
        ("modelgate.version", result.modelgate_version),
        ("verdict", result.verdict.value),
        ("suite", f"{s.name}@{s.version}"),
        ("suite.digest", s.digest),
        ("candidate.path", c.path),
        ("candidate.format", c.format),
        ("candidate.sha256", c.sha256),
        ("candidate.carries_code", str(c.carries_code).lower()),
        *([("candidate.device", c.device)] if c.device else []),
        *([("candidate.ran", c.ran)] if c.ran else []),
        ("baseline.path", b.path),
        ("baseline.blessed_at", b.blessed_at),
        ("config.sha256", result.config_sha256),
    ]


def _testcase(parent: ET.Element, check: Check) -> None:
    case = ET.SubElement(
        parent, "testcase", {"classname": SUITE_NAME, "name": xml_text(check.name), "time": "0"}
    )
    if check.status is Status.FAILED:
        first = check.findings[0].message if check.findings else check.summary
        failure = ET.SubElement(
            case, "failure", {"message": xml_text(first), "type": xml_text(check.name)}
        )
        failure.text = xml_text(_details(check))
    elif check.status is Status.SKIPPED:
        ET.SubElement(case, "skipped", {"message": xml_text(check.summary)})
    elif check.status is Status.WARNED:
        ET.SubElement(case, "system-out").text = xml_text("WARNING: " + _details(check))


def _details(check: Check) -> str:
    """The summary line, then each finding with the evidence a reviewer needs."""
    parts = [check.summary]
    parts += [_finding_text(f) for f in check.findings]
    return "\n\n".join(parts)


def _finding_text(f: Finding) -> str:
    lines = [f.message]
    stats = statistics_text(f)
    if stats:
        lines.append("  " + stats)
    if f.canaries:
        shown = ", ".join(f.canaries[:MAX_FINDING_CANARIES])
        more = len(f.canaries) - MAX_FINDING_CANARIES
        tail = f" ... and {more} more in the JSON report" if more > 0 else ""
        lines.append(f"  canaries ({len(f.canaries)}): {shown}{tail}")
    for key, value in f.evidence:
        lines.append(f"  {key}: {jsonable(value)}")
    return "\n".join(lines)


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _duration(started: str, finished: str) -> str:
    """Seconds between the two ISO times, or 0 when either is missing or unreadable."""
    start, end = _parse_time(started), _parse_time(finished)
    if start is None or end is None:
        return "0"
    return f"{max((end - start).total_seconds(), 0.0):.3f}"


def _ant_timestamp(text: str) -> str | None:
    """ISO time in UTC without offset: the only form the Ant JUnit schema accepts."""
    moment = _parse_time(text)
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
