"""The Markdown report: what a reviewer reads in a pull request or a GitHub step summary.

Canary ids, labels, tags and messages come from untrusted suites and candidates, so every one
goes through `escape_md` (`report.escape.markdown_text`); a label must not be able to break a
table, inject HTML, start a heading, ping a team or become a link.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from modelgate.report.escape import markdown_text, visible_text  # noqa: F401 (re-exported)
from modelgate.report.json import round_margin, round_p_value, round_statistic
from modelgate.result import CanaryFlip, Finding, FlipKind, GateResult, Status, Verdict

MAX_FLIP_ROWS = 200
MAX_FINDING_CANARIES = 50
MAX_GROUP_ROWS = 50

STATUS_ICON = {
    Status.PASSED: "✅ passed",
    Status.FAILED: "❌ failed",
    Status.WARNED: "⚠️ warned",
    Status.SKIPPED: "⏭️ skipped",
}

_KIND_ORDER = {FlipKind.NEGATIVE: 0, FlipKind.OTHER: 1, FlipKind.POSITIVE: 2}

escape_md = markdown_text  # the Markdown escape, under the name the renderers use


def rank_flips(flips: Sequence[CanaryFlip], limit: int | None = None) -> list[CanaryFlip]:
    """Most alarming first: unexplained, then right->wrong, then confident ones; id breaks ties.
    The first `limit` of them (all when None)."""
    from modelgate.flipped import FlippedCanaries

    if isinstance(flips, FlippedCanaries):  # columns: sorted in C, only `limit` flips built
        return flips.ranked(limit)
    ranked = sorted(
        flips,
        key=lambda f: (
            f.waiver is not None,
            _KIND_ORDER.get(f.kind, 3),
            -(round_margin(f.baseline_margin) or 0.0),
            f.id,
        ),
    )
    return ranked[:limit]


def short_digest(digest: str, n: int = 12) -> str:
    """The first `n` hex digits, without an algorithm prefix such as `sha256:`; a model with no
    file of its own (a callable without `path`) has none, and says so."""
    return digest.split(":", 1)[-1][:n] or "none: no model file"


def percent(value: float) -> str:
    return f"{value * 100:.2f}%"


def number(value: float | None, rounding: Callable[[float], float | None] = round_statistic) -> str:
    """A rounded float as text, or an em dash when absent or not finite."""
    if value is None:
        return "—"
    rounded = rounding(value)
    return "—" if rounded is None else f"{rounded:g}"


def render(result: GateResult) -> str:
    """The whole report, ending with a newline."""
    parts = [
        _title(result),
        _identity(result),
        _metrics(result),
        _groups(result),
        _checks(result),
        _findings(result),
        _pictures(result),
        _flips(result),
        _waivers(result),
        _notes(result),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _title(result: GateResult) -> str:
    passed = result.verdict is Verdict.PASSED
    icon = "✅ passed" if passed else "❌ failed"
    failed = sum(c.status is Status.FAILED for c in result.checks)
    tail = "" if passed else f" ({failed} of {len(result.checks)} checks failed)"
    return f"# modelgate: {icon}{tail}"


def _identity(result: GateResult) -> str:
    s, c, b = result.suite, result.candidate, result.baseline
    code = "yes: loading it ran its author's code" if c.carries_code else "no (weights only)"
    commit = f", commit {escape_md(b.git_commit[:12])}" if b.git_commit else ""
    rows = [
        ["Suite", f"{escape_md(s.name)}@{s.version} ({escape_md(short_digest(s.digest))})"],
        [
            "Candidate",
            f"{escape_md(c.path)} ({escape_md(c.format)}), sha256 "
            f"{escape_md(short_digest(c.sha256))}",
        ],
        ["Candidate carries code", code],
        *([["Candidate ran", escape_md(c.ran)]] if c.ran else []),
        *([["Candidate device", escape_md(c.device)]] if c.device else []),
        ["Baseline", f"{escape_md(b.path)}, blessed {escape_md(b.blessed_at)}{commit}"],
        [
            "Config",
            f"{escape_md(result.config_path)} ({escape_md(short_digest(result.config_sha256))})",
        ],
        ["modelgate", escape_md(result.modelgate_version)],
    ]
    return _table(["Input", "Identity"], rows)


def _metrics(result: GateResult) -> str:
    m = result.metrics
    delta = (m.candidate_accuracy - m.baseline_accuracy) * 100
    rows = [
        ["Canaries", f"{m.n_canaries:,}"],
        [
            "Accuracy (baseline → candidate)",
            f"{percent(m.baseline_accuracy)} → {percent(m.candidate_accuracy)} ({delta:+.2f} pt)",
        ],
        ["Negative flips (right → wrong)", f"{m.negative_flips:,}"],
        ["Positive flips (wrong → right)", f"{m.positive_flips:,}"],
        ["Other flips (wrong → other wrong)", f"{m.other_flips:,}"],
        ["Negative flip rate (NFR)", percent(m.negative_flip_rate)],
        ["Positive flip rate (PFR)", percent(m.positive_flip_rate)],
        ["Unexplained flips (no waiver)", f"{m.unexplained_flips:,}"],
    ]
    return "## Metrics\n\n" + _table(["Metric", "Value"], rows)


def _groups(result: GateResult) -> str:
    """Per-tag then per-class flip counts, only for groups where something flipped."""
    m = result.metrics
    groups = [("tag", g) for g in m.per_tag] + [("class", g) for g in m.per_class]
    moved = [(kind, g) for kind, g in groups if g.negative_flips + g.positive_flips + g.other_flips]
    if not moved:
        return ""
    rows = [
        [
            kind,
            escape_md(g.name),
            f"{g.n:,}",
            f"{g.baseline_correct:,} → {g.candidate_correct:,}",
            f"{g.negative_flips:,}",
            f"{g.positive_flips:,}",
            f"{g.other_flips:,}",
        ]
        for kind, g in moved[:MAX_GROUP_ROWS]
    ]
    header = [
        "Group",
        "Name",
        "Canaries",
        "Correct (before → after)",
        "Negative",
        "Positive",
        "Other",
    ]
    text = "## Flips by tag and class\n\n" + _table(header, rows)
    if len(moved) > MAX_GROUP_ROWS:
        text += f"\n\n{len(moved) - MAX_GROUP_ROWS:,} more groups are listed in the JSON report."
    return text


def _checks(result: GateResult) -> str:
    if not result.checks:
        return ""
    rows = [
        [escape_md(c.name), STATUS_ICON[c.status], _alpha(c.alpha), escape_md(c.summary)]
        for c in result.checks
    ]
    table = _table(["Check", "Status", "Alpha", "Summary"], rows)
    return "## Checks\n\n" + table + "\n\n" + ALPHA_NOTE


ALPHA_NOTE = (
    "Alpha: the share of `policy.alpha` each test's p-values are compared with (after Holm "
    "within the test), so that the whole gate's chance of one false alarm on a clean retrain "
    "stays within `policy.alpha`."
)


def _alpha(alpha: float | None) -> str:
    return "—" if alpha is None else f"{alpha:.3g}"


def _finding(f: Finding, status: Status) -> str:
    icon = "❌" if status is Status.FAILED else "⚠️"
    lines = [f"- {icon} **{escape_md(f.check)}**: {escape_md(f.message)}"]
    if f.test or f.statistic is not None or f.p_value is not None:
        lines.append(
            f"  - test: {escape_md(f.test or '—')}, statistic: {number(f.statistic)}, "
            f"p-value: {number(f.p_value, round_p_value)}"
        )
    if f.canaries:
        shown = ", ".join(escape_md(c) for c in f.canaries[:MAX_FINDING_CANARIES])
        more = len(f.canaries) - MAX_FINDING_CANARIES
        tail = f" … and {more:,} more in the JSON report" if more > 0 else ""
        lines.append(f"  - canaries ({len(f.canaries):,}): {shown}{tail}")
    if f.evidence:
        ev = ", ".join(f"{escape_md(k)} = {escape_md(_evidence_value(v))}" for k, v in f.evidence)
        lines.append(f"  - evidence: {ev}")
    return "\n".join(lines)


def _evidence_value(value: object) -> str:
    if isinstance(value, float):
        return number(value)
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_evidence_value(v) for v in value) + ")"
    return str(value)


def _findings(result: GateResult) -> str:
    items = [_finding(f, c.status) for c in result.checks for f in c.findings]
    return "## Findings\n\n" + "\n".join(items) if items else ""


def _flips(result: GateResult) -> str:
    if not result.flips:
        return ""
    total = len(result.flips)
    rows = [
        [
            escape_md(f.id),
            escape_md(f.label),
            f"{escape_md(f.baseline)} → {escape_md(f.candidate)}",
            f.kind.value,
            number(f.baseline_margin, round_margin),
            number(f.candidate_margin, round_margin),
            ", ".join(escape_md(t) for t in f.tags),
            escape_md(f.waiver) if f.waiver else "",
        ]
        for f in rank_flips(result.flips, MAX_FLIP_ROWS)
    ]
    header = [
        "Canary",
        "Label",
        "Before → after",
        "Kind",
        "Margin before",
        "Margin after",
        "Tags",
        "Waiver",
    ]
    text = f"## Flipped canaries ({total:,})\n\n" + _table(header, rows)
    hidden = total - MAX_FLIP_ROWS
    if hidden > 0:
        text += (
            f"\n\nShowing the {MAX_FLIP_ROWS} most alarming of {total:,} flips; "
            f"{hidden:,} more are listed in the JSON report."
        )
    return text


def _waivers(result: GateResult) -> str:
    if not result.waivers:
        return ""
    header = ["Target", "To", "Reason", "Approved by", "Expires", "Line"]
    sections = ["## Waivers"]
    for state in ("used", "unused", "expired"):
        chosen = [w for w in result.waivers if w.state == state]
        if not chosen:
            continue
        rows = [
            [
                escape_md(w.target),
                escape_md(w.to),
                escape_md(w.reason),
                escape_md(w.approved_by),
                escape_md(w.expires or "never"),
                str(w.line) if w.line is not None else "",
            ]
            for w in chosen
        ]
        sections.append(f"### {state.capitalize()} ({len(chosen)})\n\n" + _table(header, rows))
    others = [w for w in result.waivers if w.state not in ("used", "unused", "expired")]
    if others:  # an unknown state is still shown, never dropped
        sections.append(
            "### Other\n\n"
            + "\n".join(f"- {escape_md(w.target)}: {escape_md(str(w.state.value))}" for w in others)
        )
    return "\n\n".join(sections)


_PICTURE_PATH = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")


def _safe_picture_path(path: object) -> bool:
    """A relative path of plain names: nothing that could leave the report folder or a link."""
    return isinstance(path, str) and bool(_PICTURE_PATH.match(path)) and ".." not in path


def _pictures(result: GateResult) -> str:
    """Trigger pictures the gate saved next to the report (image suites), as inline images."""
    shown = [
        f"![{escape_md(p.caption)}]({p.path})\n\n{escape_md(p.caption)}"
        for p in result.pictures
        if _safe_picture_path(p.path)
    ]
    return "## Pictures\n\n" + "\n\n".join(shown) if shown else ""


def _notes(result: GateResult) -> str:
    if not result.notes:
        return ""
    return "## Notes\n\n" + "\n".join(f"- {escape_md(n)}" for n in result.notes)
