"""Findings -> checks -> verdict, by the rules in `policy:`. Every check says why it passed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modelgate.config import Config, Policy
from modelgate.result import CanaryFlip, Check, Finding, Metrics, Status, Verdict, WaiverUse
from modelgate.validation import TestMode


def _flip_list(flips: Sequence[CanaryFlip], limit: int = 10) -> str:
    shown = ", ".join(f"{f.id} ({f.baseline} -> {f.candidate})" for f in flips[:limit])
    more = f" and {len(flips) - limit} more" if len(flips) > limit else ""
    return shown + more


def statistical_modes(config: Config) -> dict[str, TestMode]:
    """Mode (fail, warn or off) of every test that shares `policy.alpha`, by check name: the
    six churn tests, the two trigger checks when probes run, drift when the ledger is on."""
    policy = config.policy
    modes = {
        "stats.mcnemar": policy.tests.mcnemar,
        "stats.per_class": policy.tests.per_class,
        "stats.destination": policy.tests.destination,
        "stats.attraction": policy.tests.attraction,
        "stats.margin_collapse": policy.protected.margin_collapse,
        "stats.reversal": policy.tests.reversal,
    }
    if config.model.probes != "off":
        modes["probes.triggers"] = policy.triggers.probes
        modes["probes.inversion"] = policy.triggers.inversion
    if config.model.history.enabled:
        modes["drift"] = policy.drift.mode
    return modes


def statistical_tests(config: Config) -> list[str]:
    """The tests that share `policy.alpha`: every one whose mode is not `off`."""
    return [name for name, mode in statistical_modes(config).items() if mode != "off"]


def alpha_share(config: Config) -> float:
    """Each enabled test's share of `policy.alpha` (Bonferroni), so that the whole gate's
    chance of one false alarm on a clean retrain stays within `policy.alpha`."""
    return config.policy.alpha / max(1, len(statistical_tests(config)))


def accuracy_check(metrics: Metrics, policy: Policy) -> Check:
    drop = metrics.baseline_accuracy - metrics.candidate_accuracy
    summary = (
        f"accuracy {metrics.baseline_accuracy:.2%} -> {metrics.candidate_accuracy:.2%} "
        f"(allowed drop {policy.accuracy.max_drop:.2%})"
    )
    if drop > policy.accuracy.max_drop + 1e-12:
        finding = Finding(
            check="accuracy",
            message=f"Accuracy dropped by {drop:.2%}, more than "
            f"the allowed {policy.accuracy.max_drop:.2%}.",
            statistic=round(drop, 6),
        )
        return Check("accuracy", Status.FAILED, summary, (finding,))
    return Check("accuracy", Status.PASSED, summary)


def budget_check(name: str, flips: Sequence[CanaryFlip], limit: int | None, what: str) -> Check:
    """A hard budget: more than `limit` unexplained flips of this group fails."""
    if limit is None:
        return Check(name, Status.SKIPPED, "no budget set")
    unexplained = [f for f in flips if f.waiver is None]
    summary = f"{len(unexplained)} unexplained {what} (budget {limit})"
    if len(unexplained) > limit:
        finding = Finding(
            check=name,
            message=f"{len(unexplained)} {what} flipped without a waiver, over the budget of "
            f"{limit}: {_flip_list(unexplained)}.",
            statistic=float(len(unexplained)),
            canaries=tuple(f.id for f in unexplained),
        )
        return Check(name, Status.FAILED, summary, (finding,))
    return Check(name, Status.PASSED, summary)


def budget_checks(flips: Sequence[CanaryFlip], policy: Policy) -> list[Check]:
    """The protected budget and every per-tag budget of the policy."""
    from modelgate.flipped import FlippedCanaries

    def having(tag: str) -> Sequence[CanaryFlip]:
        if isinstance(flips, FlippedCanaries):  # columns: only the tagged flips are built
            return tuple(flips.tagged(tag))
        return [f for f in flips if tag in f.tags]

    protected = [f for f in having("protected") if f.kind.value != "positive"]
    checks = [
        budget_check("flips.protected", protected, policy.protected.max_flips, "protected canaries")
    ]
    for tag, budget in sorted(policy.tags.items()):
        tagged = having(tag)
        if budget.max_flips is not None:
            checks.append(
                budget_check(
                    f"flips.tag.{tag}",
                    [f for f in tagged if f.kind.value != "positive"],
                    budget.max_flips,
                    f"canaries tagged {tag}",
                )
            )
        if budget.max_negative_flips is not None:
            checks.append(
                budget_check(
                    f"flips.tag.{tag}.negative",
                    [f for f in tagged if f.kind.value == "negative"],
                    budget.max_negative_flips,
                    f"right-to-wrong canaries tagged {tag}",
                )
            )
    return checks


def waiver_check(uses: Sequence[WaiverUse], policy: Policy) -> Check:
    expired = [u for u in uses if u.state == "expired"]
    unused = [u for u in uses if u.state == "unused"]
    summary = (
        f"{sum(u.state == 'used' for u in uses)} used, {len(unused)} unused, {len(expired)} expired"
    )
    if not expired or policy.expired_waivers == "off":
        return Check("waivers", Status.PASSED, summary)
    finding = Finding(
        check="waivers",
        message=f"{len(expired)} waiver(s) expired and no longer explain flips: "
        + ", ".join(f"{u.target} -> {u.to} (expired {u.expires})" for u in expired[:10]),
    )
    status = Status.FAILED if policy.expired_waivers == "fail" else Status.WARNED
    return Check("waivers", status, summary, (finding,))


def verdict_of(checks: Sequence[Check]) -> Verdict:
    return Verdict.FAILED if any(c.status is Status.FAILED for c in checks) else Verdict.PASSED


def apply_mode(check: Check, mode: str) -> Check:
    """`fail` keeps a failing check; `warn` downgrades it; `off` skips it."""
    if mode == "off":
        return Check(check.name, Status.SKIPPED, "switched off by the policy")
    if mode == "warn" and check.status is Status.FAILED:
        return Check(check.name, Status.WARNED, check.summary, check.findings)
    return check


def margin_collapse_mask(tags: Sequence[tuple[str, ...]]) -> np.ndarray:
    return np.array(["protected" in t for t in tags], dtype=bool)
