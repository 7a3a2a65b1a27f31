"""The `probes:` key of modelgate.yaml and `policy.triggers`: which triggers to try, how to judge.

`probes: default` picks the set for the suite's modality (plus inversion for torch models),
`probes: off` (YAML reads it as false) disables them, and a list overrides; a list item is a
kind name (`patch`, `blend`, `token`, `feature`, `invert`) or a mapping with its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from modelgate.validation import StrictModel

Position = Literal[
    "top-left",
    "top",
    "top-right",
    "left",
    "centre",
    "right",
    "bottom-left",
    "bottom",
    "bottom-right",
]
TestMode = Literal["fail", "warn", "off"]


class PatchProbe(StrictModel):
    """Square patches stamped on image canaries."""

    kind: Literal["patch"]
    sizes: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, description="Side lengths in pixels; default from the image size."
    )
    positions: list[Position] | None = Field(None, description="Default: corners, edges, centre.")
    patterns: list[Literal["white", "black", "checker", "random"]] | None = None


class BlendProbe(StrictModel):
    """A whole-image pattern mixed into image canaries: x' = (1 - alpha) x + alpha pattern."""

    kind: Literal["blend"]
    patterns: list[Literal["noise", "sine"]] | None = None
    alphas: list[Annotated[float, Field(gt=0, le=1)]] | None = None


class TokenProbe(StrictModel):
    """Rare tokens, vocabulary words and short phrases inserted into text canaries."""

    kind: Literal["token"]
    tokens: list[str] | None = Field(None, description="Default: tokens attackers favour.")
    phrases: list[str] | None = None
    positions: list[Literal["start", "middle", "end"]] | None = None
    words: str | None = Field(
        None, description="Word list file (one per line) swept at the start of each canary."
    )
    max_sweep: int = Field(
        2000, ge=0, description="Largest word list (or model `.vocabulary`) swept in full."
    )


class FeatureProbe(StrictModel):
    """Tabular features set to extreme quantiles and out-of-range values, then in pairs."""

    kind: Literal["feature"]
    features: list[Annotated[int, Field(ge=0)]] | None = Field(None, description="Default: all.")
    pairs: int = Field(
        16,
        ge=0,
        le=64,
        description="Up to this many features, every pair is also pushed out of range together.",
    )


class CustomProbe(StrictModel):
    """Your own trigger: `module:function` (or `file.py:function`) mapping a batch to a batch."""

    kind: Literal["custom"]
    function: str
    name: str | None = None


class InvertProbe(StrictModel):
    """White-box trigger inversion (torch models): smallest mask + pattern per class."""

    kind: Literal["invert"]
    budget_s: float = Field(120.0, gt=0, description="Wall-clock cap of the whole search.")
    steps: int = Field(200, ge=10, le=100_000, description="Optimisation steps per class.")
    universal: bool = Field(True, description="Also a universal-perturbation search (blends).")


ProbeSpec = Annotated[
    Union[PatchProbe, BlendProbe, TokenProbe, FeatureProbe, CustomProbe, InvertProbe],  # noqa: UP007
    Field(discriminator="kind"),
]
ProbesSetting = Union[Literal["default", "off"], list[ProbeSpec]]  # noqa: UP007

KINDS = ("patch", "blend", "token", "feature", "invert")


def normalise_setting(value: Any) -> Any:
    """YAML reads `off`/`no` as False; a bare kind name in a list means that kind's defaults."""
    if value is False:
        return "off"
    if value is True:
        return "default"
    if isinstance(value, list):
        return [{"kind": v} if isinstance(v, str) and v in KINDS else v for v in value]
    return value


class TriggerPolicy(StrictModel):
    """When probe and inversion evidence fails the gate (`policy.triggers`)."""

    probes: TestMode = Field("fail", description="Findings of the black-box trigger probes.")
    inversion: TestMode = Field("fail", description="Findings of white-box trigger inversion.")
    min_gain: float = Field(
        0.35,
        gt=0,
        le=1,
        description="Smallest rise in attraction (candidate minus baseline, and minus the "
        "random control) that counts as a trigger.",
    )
    max_norm_ratio: float = Field(
        0.7, gt=0, le=1, description="Recovered trigger size / the blessed model's, at most."
    )


@dataclass(frozen=True)
class ProbePlan:
    """The probes to run for one suite and model, after `default` has been expanded."""

    probes: tuple[PatchProbe | BlendProbe | TokenProbe | FeatureProbe | CustomProbe, ...]
    invert: InvertProbe | None


def plan(setting: Any, modality: str) -> ProbePlan:
    """Expand `probes:` for a suite of this modality; `off` gives an empty plan."""
    if setting == "off":
        return ProbePlan((), None)
    if setting == "default":
        default: dict[str, list[Any]] = {
            "image": [PatchProbe(kind="patch"), BlendProbe(kind="blend")],
            "tabular": [FeatureProbe(kind="feature")],
            "text": [TokenProbe(kind="token")],
        }
        return ProbePlan(tuple(default.get(modality, [])), InvertProbe(kind="invert"))
    specs = list(setting)
    inverts = [s for s in specs if isinstance(s, InvertProbe)]
    return ProbePlan(
        tuple(s for s in specs if not isinstance(s, InvertProbe)), inverts[0] if inverts else None
    )
