"""The JSON report: the complete, versioned, machine-readable record of one run.

Two runs on the same inputs must give byte-identical files apart from `started_at` and
`finished_at`, so CI can diff reports and cache on them: keys are sorted, floats are rounded to
the precision that means something, and evidence of any shape is normalised to plain JSON.
"""

from __future__ import annotations

import enum
import itertools
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import fields, is_dataclass
from pathlib import PurePath
from typing import Any

from modelgate.result import (
    BaselineInfo,
    CanaryFlip,
    Check,
    Finding,
    GateResult,
    GroupMetrics,
    Metrics,
    ModelInfo,
    Status,
    SuiteInfo,
    WaiverUse,
)

SCHEMA = "modelgate-report"


_FLIPS_SLOT = "\x00flips\x00"  # where render() puts the flips, one line each
_PART = 8192  # flips per part of the rendered text


def render(result: GateResult) -> str:
    """The report as text, ending with a newline: indented, but one line per flip."""
    return "".join(render_parts(result))


def render_parts(result: GateResult) -> Iterator[str]:
    """The report in parts (a few thousand flips each), written without building an object per
    flip: a million flips take seconds and stream to disk."""
    data = to_dict(result, flips=False)
    data["flips"] = _FLIPS_SLOT
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    slot = '\n  "flips": ' + json.dumps(_FLIPS_SLOT)
    head, found, tail = text.partition(slot)
    assert found, "the flips key is at the top level"
    yield f'{head}\n  "flips": '
    if not result.flips:
        yield "[]"
    else:
        yield "[\n    "
        parts = flip_parts(result.flips, _PART)
        yield ",\n    ".join(next(parts))
        for part in parts:
            yield ",\n    " + ",\n    ".join(part)
        yield "\n  ]"
    yield tail


def flip_rows(flips: Sequence[CanaryFlip]) -> Iterator[str]:
    """Each flip as one line of JSON, sorted keys."""
    from modelgate.flipped import FlippedCanaries

    if isinstance(flips, FlippedCanaries):
        return flips.json_rows()
    return (
        json.dumps(_flip(f), sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
        for f in flips
    )


def flip_parts(flips: Sequence[CanaryFlip], size: int) -> Iterator[list[str]]:
    """`flip_rows` in lists of up to `size` rows, none empty."""
    from modelgate.flipped import FlippedCanaries

    if isinstance(flips, FlippedCanaries):
        return flips.json_chunks(size)
    rows = iter(flip_rows(flips))
    return iter(lambda: list(itertools.islice(rows, size)), [])


def to_dict(result: GateResult, *, flips: bool = True) -> dict[str, Any]:
    """The report as plain JSON data (dicts, lists, str, int, float, bool, None)."""
    statuses = {s.value: 0 for s in Status}
    for check in result.checks:
        statuses[check.status.value] += 1
    return {
        "schema": SCHEMA,
        "schema_version": result.schema_version,
        "verdict": result.verdict.value,
        "exit_code": result.exit_code,
        "modelgate_version": result.modelgate_version,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "config": {"path": result.config_path, "sha256": result.config_sha256},
        "suite": _suite(result.suite),
        "candidate": _model(result.candidate),
        "baseline": _baseline(result.baseline),
        "summary": {
            "checks": statuses,
            "findings": len(result.findings),
            "flips": len(result.flips),
        },
        "metrics": _metrics(result.metrics),
        "checks": [_check(c) for c in result.checks],
        "flips": [_flip(f) for f in result.flips] if flips else [],
        "waivers": [_waiver(w) for w in result.waivers],
        "notes": list(result.notes),
        "pictures": [{"path": p.path, "caption": p.caption} for p in result.pictures],
    }


def round_margin(value: float) -> float | None:
    """Margins to 4 decimals: finer digits are float noise that differs across machines."""
    return _finite(value, lambda v: round(v, 4))


def round_p_value(value: float | None) -> float | None:
    """p-values to 4 significant digits: 1.234e-07 stays informative, 0.0 is never invented."""
    return None if value is None else _finite(value, lambda v: float(f"{v:.4g}"))


def round_statistic(value: float | None) -> float | None:
    """Test statistics to 6 significant digits."""
    return None if value is None else _finite(value, lambda v: float(f"{v:.6g}"))


def round_rate(value: float) -> float | None:
    """Accuracies and flip rates to 6 decimals (a millionth of the suite)."""
    return _finite(value, lambda v: round(v, 6))


def _finite(value: float, rounding: Any) -> float | None:
    # JSON has no NaN or Infinity; null is valid everywhere and never mistaken for a number.
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(rounding(value)) + 0.0  # + 0.0 turns -0.0 into 0.0


def _suite(suite: SuiteInfo) -> dict[str, Any]:
    return {
        "name": suite.name,
        "version": suite.version,
        "digest": suite.digest,
        "modality": suite.modality,
        "n_canaries": suite.n_canaries,
        "classes": list(suite.classes),
    }


def _model(model: ModelInfo) -> dict[str, Any]:
    out = {
        "path": model.path,
        "format": model.format,
        "sha256": model.sha256,
        "carries_code": model.carries_code,
    }
    if model.ran:  # in-process, or the sandbox's limits as the OS enforced them
        out["ran"] = model.ran
    if model.device:  # `inference.device` as resolved: cpu or cuda
        out["device"] = model.device
    return out


def _baseline(baseline: BaselineInfo) -> dict[str, Any]:
    return {
        "path": baseline.path,
        "sha256": baseline.sha256,
        "model_sha256": baseline.model_sha256,
        "blessed_at": baseline.blessed_at,
        "git_commit": baseline.git_commit,
    }


def _group(group: GroupMetrics) -> dict[str, Any]:
    return {f.name: getattr(group, f.name) for f in fields(group)}


def _metrics(m: Metrics) -> dict[str, Any]:
    return {
        "n_canaries": m.n_canaries,
        "baseline_accuracy": round_rate(m.baseline_accuracy),
        "candidate_accuracy": round_rate(m.candidate_accuracy),
        "negative_flips": m.negative_flips,
        "positive_flips": m.positive_flips,
        "other_flips": m.other_flips,
        "negative_flip_rate": round_rate(m.negative_flip_rate),
        "positive_flip_rate": round_rate(m.positive_flip_rate),
        "unexplained_flips": m.unexplained_flips,
        "per_class": [_group(g) for g in m.per_class],
        "per_tag": [_group(g) for g in m.per_tag],
    }


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "check": f.check,
        "message": f.message,
        "test": f.test,
        "statistic": round_statistic(f.statistic),
        "p_value": round_p_value(f.p_value),
        "canaries": list(f.canaries),
        "evidence": _pairs(f.evidence),
    }


def _check(c: Check) -> dict[str, Any]:
    return {
        "name": c.name,
        "status": c.status.value,
        "summary": c.summary,
        "alpha": None if c.alpha is None else float(f"{c.alpha:.6g}"),
        "findings": [_finding(f) for f in c.findings],
    }


def _flip(f: CanaryFlip) -> dict[str, Any]:
    return {
        "id": f.id,
        "label": f.label,
        "baseline": f.baseline,
        "candidate": f.candidate,
        "kind": f.kind.value,
        "baseline_margin": round_margin(f.baseline_margin),
        "candidate_margin": round_margin(f.candidate_margin),
        "tags": list(f.tags),
        "waiver": f.waiver,
    }


def _waiver(w: WaiverUse) -> dict[str, Any]:
    return {f.name: jsonable(getattr(w, f.name)) for f in fields(w)}


def _pairs(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {str(key): jsonable(value) for key, value in pairs}


def jsonable(value: Any) -> Any:
    """Plain JSON data for an evidence value of any common shape (numpy, enums, tuples...)."""
    if isinstance(value, enum.Enum):  # before str: Status is a str too
        return jsonable(value.value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return round_statistic(value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v) for v in value), key=repr)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if hasattr(value, "tolist"):  # numpy arrays and scalars, without importing numpy
        return jsonable(value.tolist())
    if hasattr(value, "item"):
        return jsonable(value.item())
    return str(value)


def statistics_text(finding: Finding, show: Callable[[str], str] = str) -> str:
    """ "test: ..., statistic: ..., p-value: ..." for text reports, rounded as in the JSON;
    empty when the finding has none. `show` makes the untrusted test name safe to print."""
    parts = []
    if finding.test:
        parts.append(f"test: {show(finding.test)}")
    if finding.statistic is not None:
        parts.append(f"statistic: {round_statistic(finding.statistic)}")
    if finding.p_value is not None:
        parts.append(f"p-value: {round_p_value(finding.p_value)}")
    return ", ".join(parts)
