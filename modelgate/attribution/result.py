"""Plain data out of an attribution: what behaviour was attributed, the ranked training rows,
and the per-source statistic. Frozen dataclasses, rendered by the quarantine writers and the
Markdown section alike."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

METHOD = "captum TracInCPFast (last layer, one checkpoint: the candidate)"
DIRECT = "influence on the canaries' new class"
CONTRAST = "last-layer step along the trigger's activation shift (own; stamped minus clean)"


@dataclass(frozen=True)
class Behaviour:
    """What a failing finding says the candidate learned: these canaries (flipped, or stamped
    with a trigger) now go to these classes."""

    check: str
    summary: str  # one sentence, untrusted names inside: escape when rendering
    canaries: tuple[str, ...]  # suite ids of the canaries (stamped or not)
    inputs: np.ndarray | list[str] = field(repr=False, compare=False)  # texts for text suites
    targets: np.ndarray = field(repr=False, compare=False)  # (n,) class index per canary
    # For a trigger: the same canaries unstamped. Rows are then scored by how much they teach
    # the shift the stamp causes towards the class (see scoring.trigger_shares).
    reference: np.ndarray | list[str] | None = field(default=None, repr=False, compare=False)

    @property
    def method(self) -> str:
        return CONTRAST if self.reference is not None else DIRECT


@dataclass(frozen=True)
class RowScore:
    """One training row's share of the influence mass on a behaviour."""

    rank: int  # 1 = most influential
    id: str
    label: str  # as trained
    source: str
    share: float  # of the behaviour's positive influence mass (sums to 1 over scored rows)
    position: int  # row position in the manifest


@dataclass(frozen=True)
class SourceStat:
    """One source against what its share of the rows predicts (label-stratified permutation)."""

    source: str
    rows: int
    row_share: float
    mass_share: float
    p_value: float
    p_adjusted: float  # Holm over every (finding, source) of the run
    flagged: bool


@dataclass(frozen=True)
class FindingAttribution:
    behaviour: Behaviour
    top_rows: tuple[RowScore, ...]
    sources: tuple[SourceStat, ...]  # most influence mass first
    shares: np.ndarray = field(repr=False, compare=False)  # (rows scored,) in manifest order

    @property
    def flagged(self) -> tuple[SourceStat, ...]:
        return tuple(s for s in self.sources if s.flagged)


@dataclass(frozen=True)
class Budget:
    """The counts an attribution ran with: recorded so two runs can be compared."""

    rows_total: int
    rows_scored: int
    max_canaries: int
    permutations: int
    method: str = METHOD


@dataclass(frozen=True)
class AttributionReport:
    manifest: str  # display path of the manifest folder
    manifest_digest: str
    model_sha256: str
    alpha: float
    budget: Budget | None
    findings: tuple[FindingAttribution, ...]
    notes: tuple[str, ...] = ()  # what was skipped, and why
    failing: tuple[str, ...] = ()  # the failing checks of the verdict attributed
    classes: tuple[str, ...] = ()  # the suite's, to name the behaviours' target classes
    not_white_box: str = ""  # why nothing could be scored, when the candidate hides its weights

    @property
    def flagged_sources(self) -> tuple[str, ...]:
        return tuple(sorted({s.source for f in self.findings for s in f.flagged}))

    @property
    def exit_code(self) -> int:
        """1 when a source carries far more influence than its rows predict, else 0."""
        return 1 if self.flagged_sources else 0
