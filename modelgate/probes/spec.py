"""The `probes:` key of modelgate.yaml and `policy.triggers`: which triggers to try, how to judge.

`probes: default` picks the set for the suite's modality (plus inversion for torch models),
`probes: off` (YAML reads it as false) disables them, and a list overrides; a list item is a
kind name (`patch`, `blend`, `token`, `feature`, `invert`) or a mapping with its parameters.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import Field, ValidationError
from pydantic_core import PydanticCustomError

from modelgate.validation import StrictModel, TestMode

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
    pairs: int = Field(
        6,
        ge=0,
        le=20,
        description="Words whose attraction rose most against the blessed model, then inserted "
        "two at a time (a phrase trigger of ordinary words moves each word only a little).",
    )


class FeatureProbe(StrictModel):
    """Tabular features set to extreme quantiles and out-of-range values, then in pairs."""

    kind: Literal["feature"]
    features: list[Annotated[int, Field(ge=0)]] | None = Field(None, description="Default: all.")
    pairs: int = Field(
        16,
        ge=0,
        le=64,
        description="Up to this many features, every pair is also set to extreme percentiles.",
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
_MODELS = (PatchProbe, BlendProbe, TokenProbe, FeatureProbe, CustomProbe, InvertProbe)


def normalise_setting(value: Any) -> Any:
    """YAML reads `off`/`no` as False; a bare kind name in a list means that kind's defaults.

    List items are validated here, one at a time, so an error names `probes.N` and the key
    plainly instead of pydantic's union bookkeeping.
    """
    if value is False:
        return "off"
    if value is True:
        return "default"
    if isinstance(value, str) and value not in ("default", "off"):
        raise _error(f"must be default, off or a list of probes ({', '.join(KINDS)}, custom)")
    if not isinstance(value, list):
        return value
    return [_item(v, n) for n, v in enumerate(value)]


def _kind_of(model: type[StrictModel]) -> str:
    return str(typing.get_args(model.model_fields["kind"].annotation)[0])


def _error(detail: str) -> PydanticCustomError:
    return PydanticCustomError("probe_spec", "{detail}", {"detail": detail})


def _item(value: Any, n: int) -> Any:
    if isinstance(value, str):
        if value not in KINDS:
            raise _error(f"item {n}: unknown probe kind {value!r}; one of {', '.join(KINDS)}")
        value = {"kind": value}
    models = {_kind_of(m): m for m in _MODELS}
    kind = str(value.get("kind")) if isinstance(value, dict) else ""
    model = models.get(kind)
    if model is None:
        raise _error(f"item {n}: needs a kind, one of {', '.join(sorted(models))}")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, list(model.model_fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _error(f"item {n}: unknown key {key!r} for a {kind} probe{hint}") from None
        raise _error(f"item {n}: {key}: {err['msg'][0].lower()}{err['msg'][1:]}") from None


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
