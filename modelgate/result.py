"""The plain data every stage hands on, ending in the GateResult that every report renders.

Frozen dataclasses and tuples only, so a result can be compared, hashed into tests and rendered
by several reporters without any of them changing it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelgate.errors import EXIT_FINDINGS, EXIT_PASSED

REPORT_SCHEMA_VERSION = 2  # 2: `pictures` replaces `extras`; checks carry their `alpha`


class Status(str, enum.Enum):
    """Outcome of one check."""

    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"
    SKIPPED = "skipped"


class Verdict(str, enum.Enum):
    """Outcome of the whole gate."""

    PASSED = "passed"
    FAILED = "failed"


class FlipKind(str, enum.Enum):
    """How a canary's prediction changed between the baseline and the candidate."""

    NEGATIVE = "negative"  # right -> wrong: a regression
    POSITIVE = "positive"  # wrong -> right
    OTHER = "other"  # wrong -> another wrong


class CheckName(str, enum.Enum):
    """The name of every check the gate runs (a per-tag budget is `tag_budget(tag)`)."""

    ACCURACY = "accuracy"
    PROTECTED_BUDGET = "flips.protected"
    MCNEMAR = "stats.mcnemar"
    PER_CLASS = "stats.per_class"
    DESTINATION = "stats.destination"
    ATTRACTION = "stats.attraction"
    MARGIN_COLLAPSE = "stats.margin_collapse"
    REVERSAL = "stats.reversal"
    TRIGGERS = "probes.triggers"
    INVERSION = "probes.inversion"
    DRIFT = "drift"
    WAIVERS = "waivers"

    def __str__(self) -> str:  # the name itself, in f-strings and reports, on every Python
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


_TAG_BUDGET = "flips.tag."


def tag_budget(tag: str, *, negative: bool = False) -> str:
    """The name of a per-tag flip budget check."""
    return f"{_TAG_BUDGET}{tag}.negative" if negative else f"{_TAG_BUDGET}{tag}"


def budget_tag(check: str) -> str | None:
    """The tag whose budget the check `check` is (`tag_budget` undone); None for other checks."""
    if not check.startswith(_TAG_BUDGET):
        return None
    return check.removeprefix(_TAG_BUDGET).removesuffix(".negative")


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded, and whether loading it ran its author's code."""

    path: str
    format: str
    sha256: str
    carries_code: bool
    # How it ran: in-process, or in the sandbox with the limits the OS enforced.
    ran: str = ""
    device: str = ""  # where a torch model ran (`inference.device`): cpu or cuda


@dataclass(frozen=True)
class SuiteInfo:
    name: str
    version: int
    digest: str
    modality: str
    n_canaries: int
    classes: tuple[str, ...]


@dataclass(frozen=True)
class BaselineInfo:
    path: str
    sha256: str
    model_sha256: str
    blessed_at: str
    git_commit: str | None


@dataclass(frozen=True)
class CanaryFlip:
    """One canary whose predicted label changed."""

    id: str
    label: str
    baseline: str
    candidate: str
    kind: FlipKind
    baseline_margin: float
    candidate_margin: float
    tags: tuple[str, ...] = ()
    waiver: str | None = None  # "reason (approver)" when a waiver explains the flip


@dataclass(frozen=True)
class Finding:
    """Something the gate will not let through silently, with the evidence a reviewer needs."""

    check: str
    message: str  # one sentence a reviewer understands
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    canaries: tuple[str, ...] = ()
    evidence: tuple[tuple[str, Any], ...] = ()  # sorted (key, value) pairs


@dataclass(frozen=True)
class Check:
    """One named check; it becomes one JUnit test case and one pytest item."""

    name: str
    status: Status
    summary: str
    findings: tuple[Finding, ...] = ()
    # The share of `policy.alpha` this check's p-values were compared with (after Holm within
    # the check); None for checks without a p-value (accuracy, budgets, waivers).
    alpha: float | None = None


@dataclass(frozen=True)
class GroupMetrics:
    """Flip counts for one class or tag."""

    name: str
    n: int
    baseline_correct: int
    candidate_correct: int
    negative_flips: int
    positive_flips: int
    other_flips: int


@dataclass(frozen=True)
class Metrics:
    n_canaries: int
    baseline_accuracy: float
    candidate_accuracy: float
    negative_flips: int
    positive_flips: int
    other_flips: int
    negative_flip_rate: float
    positive_flip_rate: float
    unexplained_flips: int
    per_class: tuple[GroupMetrics, ...]
    per_tag: tuple[GroupMetrics, ...]


class WaiverState(str, enum.Enum):
    """What became of a waiver in one run."""

    USED = "used"  # it explained a flip
    UNUSED = "unused"  # nothing it names flipped
    EXPIRED = "expired"  # past its `expires` date: it explains nothing


@dataclass(frozen=True)
class WaiverUse:
    """A waiver and what became of it in this run."""

    target: str  # canary id or "tag:NAME"
    to: str
    reason: str
    approved_by: str
    expires: str | None
    state: WaiverState
    line: int | None = None


@dataclass(frozen=True)
class Picture:
    """A picture the run saved beside the Markdown report (a recovered trigger, a probe)."""

    path: str  # relative to the report's folder
    caption: str


@dataclass(frozen=True)
class GateResult:
    """Everything one run of the gate found; the single input of every report."""

    verdict: Verdict
    checks: tuple[Check, ...]
    metrics: Metrics
    flips: Sequence[CanaryFlip]  # sorted by id; a `flipped.FlippedCanaries` from the gate
    waivers: tuple[WaiverUse, ...]
    suite: SuiteInfo
    candidate: ModelInfo
    baseline: BaselineInfo
    config_path: str
    config_sha256: str
    modelgate_version: str
    notes: tuple[str, ...] = ()
    started_at: str = ""
    finished_at: str = ""
    schema_version: int = REPORT_SCHEMA_VERSION
    pictures: tuple[Picture, ...] = ()

    @property
    def exit_code(self) -> int:
        return EXIT_PASSED if self.verdict is Verdict.PASSED else EXIT_FINDINGS

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for c in self.checks for f in c.findings)

    @property
    def failed_checks(self) -> tuple[str, ...]:
        """The names of the checks that failed, in the result's order."""
        return tuple(c.name for c in self.checks if c.status is Status.FAILED)

    def check(self, name: str) -> Check:
        """The check called `name`; KeyError when the run had none of that name."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class BlessOutcome:
    """What `bless` did: the record it wrote and the check it ran against the old baseline."""

    path: Path
    previous: GateResult | None  # the check against the old baseline, when there was one
    changed: tuple[str, ...]  # canary ids whose blessed label changed
    accuracy: float | None = None  # the new baseline's canary accuracy


@dataclass(frozen=True)
class CalibrationOutcome:
    """What `calibrate` stored, and the controls it would not vouch for."""

    path: Path
    controls: tuple[str, ...]  # as recorded: relative to the config's folder where inside it
    # Controls the others' churn does not explain, with the checks they fail against them.
    suspects: tuple[tuple[str, tuple[Check, ...]], ...]
    refused: bool = False  # strict and suspects: nothing was written
    inverted: int = 0  # controls inverted for the inversion's clean floor
