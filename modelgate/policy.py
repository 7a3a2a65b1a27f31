"""Findings -> checks -> verdict, by the rules in `policy:`. Every check says why it passed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from modelgate.config import Config, Policy
from modelgate.result import (
    CanaryFlip,
    Check,
    CheckName,
    Finding,
    FlipKind,
    Metrics,
    Status,
    Verdict,
    WaiverState,
    WaiverUse,
    tag_budget,
)
from modelgate.validation import TestMode


def _flip_list(flips: Sequence[CanaryFlip], limit: int = 10) -> str:
    shown = ", ".join(f"{f.id} ({f.baseline} -> {f.candidate})" for f in flips[:limit])
    more = f" and {len(flips) - limit} more" if len(flips) > limit else ""
    return shown + more


# Weighted Bonferroni: a test of weight w gets w shares of `policy.alpha`. The reversal test
# is the only one that sees an attack on a single canary, and it corrects over every (canary,
# class) cell, where the count tests correct over a few dozen cells and catch what they catch
# with p-values far below their share; two shares for it bought 5-7 points of instance-attack
# detection on the development draws (benchmarks/detection.py) for a factor of 8/9 on the others.
WEIGHTS: dict[str, int] = {CheckName.REVERSAL: 2}


@dataclass(frozen=True)
class AlphaPlan:
    """How `policy.alpha` is split: every test that can raise a false alarm on a clean retrain
    gets a fixed share (weighted Bonferroni: `WEIGHTS`, 1 for the rest), so the whole gate's
    chance of one stays within `policy.alpha`; each test then corrects within itself (Holm).
    Made once per run."""

    alpha: float
    modes: tuple[tuple[CheckName, TestMode], ...]  # every test that shares alpha, and its mode

    @property
    def enabled(self) -> tuple[CheckName, ...]:
        """The tests that share `policy.alpha`: every one whose mode is not `off`."""
        return tuple(name for name, mode in self.modes if mode != "off")

    @property
    def share(self) -> float:
        """One share of `policy.alpha`: what a test of weight 1 gets."""
        return self.alpha / max(1, sum(WEIGHTS.get(name, 1) for name in self.enabled))

    def share_of(self, name: str) -> float:
        """The alpha of test `name`: its weight in shares."""
        return self.share * WEIGHTS.get(name, 1)

    def mode(self, name: CheckName) -> TestMode:
        return dict(self.modes)[name]

    def stricter(self, factor: int) -> AlphaPlan:
        """The same tests with `policy.alpha / factor` (each of `factor` models judged)."""
        return replace(self, alpha=self.alpha / max(1, factor))


def with_alpha(check: Check, plan: AlphaPlan) -> Check:
    """The check with the alpha its p-values were compared with, when it shares alpha."""
    return replace(check, alpha=plan.share_of(check.name)) if check.name in plan.enabled else check


# The checks that run only for some configs: the trigger checks with probes, drift with the ledger.
CONDITIONAL_CHECKS = frozenset({CheckName.TRIGGERS, CheckName.INVERSION, CheckName.DRIFT})


def alpha_plan(config: Config) -> AlphaPlan:
    """The split for this config: the six churn tests, the two trigger checks when probes run,
    drift when the ledger is on."""
    policy = config.policy
    modes: list[tuple[CheckName, TestMode]] = [
        (CheckName.MCNEMAR, policy.tests.mcnemar),
        (CheckName.PER_CLASS, policy.tests.per_class),
        (CheckName.DESTINATION, policy.tests.destination),
        (CheckName.ATTRACTION, policy.tests.attraction),
        (CheckName.MARGIN_COLLAPSE, policy.protected.margin_collapse),
        (CheckName.REVERSAL, policy.tests.reversal),
    ]
    if config.settings.probes != "off":
        modes.append((CheckName.TRIGGERS, policy.triggers.probes))
        modes.append((CheckName.INVERSION, policy.triggers.inversion))
    if config.settings.history.enabled:
        modes.append((CheckName.DRIFT, policy.drift.mode))
    return AlphaPlan(alpha=policy.alpha, modes=tuple(modes))


def accuracy_check(metrics: Metrics, policy: Policy) -> Check:
    drop = metrics.baseline_accuracy - metrics.candidate_accuracy
    summary = (
        f"accuracy {metrics.baseline_accuracy:.2%} -> {metrics.candidate_accuracy:.2%} "
        f"(allowed drop {policy.accuracy.max_drop:.2%})"
    )
    if drop > policy.accuracy.max_drop + 1e-12:
        finding = Finding(
            check=CheckName.ACCURACY,
            message=f"Accuracy dropped by {drop:.2%}, more than "
            f"the allowed {policy.accuracy.max_drop:.2%}.",
            statistic=round(drop, 6),
        )
        return Check(CheckName.ACCURACY, Status.FAILED, summary, (finding,))
    return Check(CheckName.ACCURACY, Status.PASSED, summary)


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

    protected = [f for f in having("protected") if f.kind is not FlipKind.POSITIVE]
    checks = [
        budget_check(
            CheckName.PROTECTED_BUDGET, protected, policy.protected.max_flips, "protected canaries"
        )
    ]
    for tag, budget in sorted(policy.tags.items()):
        tagged = having(tag)
        if budget.max_flips is not None:
            checks.append(
                budget_check(
                    tag_budget(tag),
                    [f for f in tagged if f.kind is not FlipKind.POSITIVE],
                    budget.max_flips,
                    f"canaries tagged {tag}",
                )
            )
        if budget.max_negative_flips is not None:
            checks.append(
                budget_check(
                    tag_budget(tag, negative=True),
                    [f for f in tagged if f.kind is FlipKind.NEGATIVE],
                    budget.max_negative_flips,
                    f"right-to-wrong canaries tagged {tag}",
                )
            )
    return checks


def waiver_check(uses: Sequence[WaiverUse], policy: Policy) -> Check:
    expired = [u for u in uses if u.state == WaiverState.EXPIRED]
    unused = [u for u in uses if u.state == WaiverState.UNUSED]
    used = sum(u.state == WaiverState.USED for u in uses)
    summary = f"{used} used, {len(unused)} unused, {len(expired)} expired"
    if not expired or policy.expired_waivers == "off":
        return Check(CheckName.WAIVERS, Status.PASSED, summary)
    finding = Finding(
        check=CheckName.WAIVERS,
        message=f"{len(expired)} waiver(s) expired and no longer explain flips: "
        + ", ".join(f"{u.target} -> {u.to} (expired {u.expires})" for u in expired[:10]),
    )
    status = Status.FAILED if policy.expired_waivers == "fail" else Status.WARNED
    return Check(CheckName.WAIVERS, status, summary, (finding,))


def verdict_of(checks: Sequence[Check]) -> Verdict:
    return Verdict.FAILED if any(c.status is Status.FAILED for c in checks) else Verdict.PASSED


def apply_mode(check: Check, mode: str) -> Check:
    """`fail` keeps a failing check; `warn` downgrades it; `off` skips it."""
    if mode == "off":
        return Check(check.name, Status.SKIPPED, "switched off by the policy")
    if mode == "warn" and check.status is Status.FAILED:
        return Check(check.name, Status.WARNED, check.summary, check.findings)
    return check
