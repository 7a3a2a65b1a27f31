from __future__ import annotations

import enum
import json
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePosixPath

import pytest

from modelgate.report.json import jsonable, render, round_p_value, to_dict
from modelgate.result import Finding, GateResult, Status

TOP_KEYS = {
    "schema", "schema_version", "verdict", "exit_code", "modelgate_version", "started_at",
    "finished_at", "config", "suite", "candidate", "baseline", "summary", "metrics", "checks",
    "flips", "waivers", "notes", "pictures",
}  # fmt: skip


def test_render_is_byte_identical_across_calls(failing_result: GateResult) -> None:
    assert render(failing_result) == render(failing_result)


def test_only_timestamps_differ_between_runs(failing_result: GateResult) -> None:
    later = replace(failing_result, started_at="2030-01-01T00:00:00Z", finished_at="x")
    a, b = json.loads(render(failing_result)), json.loads(render(later))
    assert a != b
    for doc in (a, b):
        del doc["started_at"], doc["finished_at"]
    assert a == b


def test_round_trips_with_the_expected_keys(failing_result: GateResult) -> None:
    doc = json.loads(render(failing_result))
    assert set(doc) == TOP_KEYS
    assert doc["schema"] == "modelgate-report"
    assert doc["schema_version"] == failing_result.schema_version == 2
    assert doc["verdict"] == "failed" and doc["exit_code"] == 1
    assert doc["summary"] == {
        "checks": {"passed": 1, "failed": 2, "warned": 1, "skipped": 1},
        "findings": 3,
        "flips": len(failing_result.flips),
    }
    assert [c["status"] for c in doc["checks"]] == [
        "passed",
        "failed",
        "failed",
        "warned",
        "skipped",
    ]
    assert doc["suite"]["classes"][-6:] == list(failing_result.suite.classes[-6:])
    assert doc["candidate"]["carries_code"] is True
    assert doc["baseline"]["git_commit"] == "deadbeefcafef00d1234"
    assert doc["pictures"] == [
        {"path": "modelgate-pictures/trigger-class-1.png", "caption": "Recovered trigger | class 1"}
    ]
    assert doc["waivers"][1] == {
        "target": "tag:noisy", "to": "3", "reason": "known noisy | tag", "approved_by": "bob",
        "expires": None, "state": "unused", "line": 9,
    }  # fmt: skip


def test_findings_are_rounded_and_evidence_is_an_object(failing_result: GateResult) -> None:
    finding = to_dict(failing_result)["checks"][1]["findings"][0]
    assert finding["test"] == "mcnemar_exact"
    assert finding["statistic"] == 11.0
    assert finding["p_value"] == 0.0001235
    assert finding["evidence"] == {"expected": 2.34568, "observed": 8, "pair": ["7", "1"]}
    assert finding["canaries"][0] == "hostile-0"


def test_flips_keep_hostile_text_exactly_and_round_margins(failing_result: GateResult) -> None:
    flips = json.loads(render(failing_result))["flips"]
    labels = [f["label"] for f in flips[:6]]
    assert labels == [
        "a|b<script>",
        "::error::x",
        "100%",
        "line1\nline2",
        "\x1b[31mred",
        "@org/team",
    ]
    first = next(f for f in flips if f["id"] == "img-0001")
    assert first == {
        "id": "img-0001", "label": "7", "baseline": "7", "candidate": "1", "kind": "negative",
        "baseline_margin": 0.8123, "candidate_margin": -0.4, "tags": ["protected"], "waiver": None,
    }  # fmt: skip


def test_non_finite_numbers_become_null_so_the_file_stays_valid_json(
    failing_result: GateResult,
) -> None:
    check = failing_result.checks[1]
    odd = Finding("flips", "m", statistic=math.inf, p_value=math.nan, evidence=(("x", -math.inf),))
    result = replace(failing_result, checks=(replace(check, findings=(odd,)),))
    text = render(result)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    finding = json.loads(text)["checks"][0]["findings"][0]
    assert finding["statistic"] is None and finding["p_value"] is None
    assert finding["evidence"] == {"x": None}


def test_p_values_keep_significant_digits() -> None:
    assert round_p_value(1.23456e-9) == 1.235e-09
    assert round_p_value(0.5) == 0.5
    assert round_p_value(None) is None


def test_jsonable_normalises_common_evidence_shapes() -> None:
    class Colour(enum.Enum):
        RED = "red"

    class FakeArray:  # numpy-like without importing numpy
        def tolist(self) -> list[float]:
            return [1.0, 2.123456789]

    assert jsonable(Colour.RED) == "red"
    assert jsonable(Status.FAILED) == "failed"
    assert jsonable({2: (1, 2), "a": {3}}) == {"2": [1, 2], "a": [3]}
    assert jsonable(PurePosixPath("a/b")) == "a/b"
    assert jsonable(FakeArray()) == [1.0, 2.12346]
    assert jsonable(True) is True and jsonable(-0.0) == 0.0


def test_output_is_sorted_and_indented(passing_result: GateResult) -> None:
    text = render(passing_result)
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


RENDER_EVERYTHING = """
import sys
sys.path.insert(0, sys.argv[1])
from conftest import build_result
from modelgate.report import FORMATS, console, failure, github
from modelgate.report.bless import bless_lines
from modelgate.result import BlessOutcome

print("numpy" in sys.modules)  # the renderers import only the standard library
result = build_result(failing=True)
for render in FORMATS.values():
    assert render(result)
assert console.render(result, color=True) and github.step_summary(result, "in the artifact")
assert list(github.annotation_lines(result, locate=lambda c, f: github.Location("m.yaml")))
assert failure.failure_text(result.checks[1], result)
assert bless_lines(BlessOutcome(path=__import__("pathlib").Path("b.json"), previous=result,
                                changed=("a",), accuracy=0.9), "m.safetensors")
print(*(name in sys.modules for name in ("torch", "scipy")))
"""


def test_rendering_every_report_imports_no_torch() -> None:
    """Every format, the console, GitHub's renderings, pytest's failure text and bless's lines:
    importing them loads no numpy, rendering them no torch or scipy."""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", RENDER_EVERYTHING, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )
    assert out.stdout.split() == ["False", "False", "False"]  # numpy on import; torch, scipy


def test_make_result_helper_builds_many_flips(make_result: Callable[..., GateResult]) -> None:
    assert len(make_result(failing=True, n_extra_flips=5).flips) == 15


def test_every_check_says_the_alpha_its_p_values_were_compared_with(
    failing_result: GateResult,
) -> None:
    checks = {c["name"]: c for c in json.loads(render(failing_result))["checks"]}
    assert checks["destination"]["alpha"] == 0.00125  # a test sharing policy.alpha
    assert checks["flips"]["alpha"] is None  # no share of its own
    assert all("alpha" in c for c in checks.values())
