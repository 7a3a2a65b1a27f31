"""The counts a check runs its probes and inversion with, against those of the baseline record.

The blessed model's numbers are only comparable with a candidate's when both were measured with
the same counts (canaries, steps, search batch, classes): a shorter search finds larger
triggers, fewer canaries give other attraction rates. A record made with other counts is
therefore refused (exit 2) before any model runs, naming both budgets; `bless` replaces it, and
over such a record it needs `--force --reason`, since the old trigger results cannot judge the
candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelgate.errors import BaselineError
from modelgate.probe_settings import plan
from modelgate.probes.record import RECORD_FORMAT

HINT = "bless the production model again with this config (`modelgate bless`)"


def describe(budget: Any) -> str:
    if not isinstance(budget, dict):
        return "no count budget (a record of the earlier, time-boxed search)"
    return ", ".join(f"{k} {v}" for k, v in sorted(budget.items()))


def mismatch(setting: Any, modality: str, header: Mapping[str, Any]) -> tuple[str, str] | None:
    """(record key, message) when the record's probe or inversion counts are not the config's;
    None when they agree or when one side has nothing to compare."""
    probe_plan = plan(setting, modality)
    recorded = header.get("probes")
    if probe_plan.probes and isinstance(recorded, dict):
        want, got = probe_plan.probe_budget(), recorded.get("budget")
        if recorded.get("format") != RECORD_FORMAT and got == want:
            return "header.probes.format", _other_format(recorded.get("format"))
        if got != want or recorded.get("format") != RECORD_FORMAT:
            return "header.probes.budget", (
                f"the blessed probe results were measured with {describe(got)}; this config "
                f"runs the probes with {describe(want)}"
            )
    recorded = header.get("inversion")
    if probe_plan.invert is not None and isinstance(recorded, dict):
        want, got = probe_plan.invert.budget(), recorded.get("budget")
        if recorded.get("format") != RECORD_FORMAT and got == want:
            return "header.inversion.format", _other_format(recorded.get("format"))
        if got != want or recorded.get("format") != RECORD_FORMAT:
            return "header.inversion.budget", (
                f"the blessed model was inverted with {describe(got)}; this config inverts "
                f"with {describe(want)}"
            )
    return None


def _other_format(found: object) -> str:
    """Same counts, another record layout: naming two equal budgets would explain nothing."""
    return f"record format {found!r}, not {RECORD_FORMAT}, the one this modelgate reads"


def refuse_other_budget(
    setting: Any, modality: str, header: Mapping[str, Any], path: Any, hint: str = HINT
) -> None:
    """Raise a BaselineError naming both budgets when the record's are not the config's."""
    found = mismatch(setting, modality, header)
    if found is not None:
        key, message = found
        raise BaselineError(message, file=path, key=key, hint=hint)
