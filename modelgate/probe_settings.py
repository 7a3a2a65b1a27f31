"""The `probes:` key of modelgate.yaml and `policy.triggers`: which triggers to try, how to judge.

`probes: default` picks the set for the suite's modality (plus inversion for torch models),
`probes: off` (YAML reads it as false) disables them, and a list overrides; a list item is a
kind name (`patch`, `blend`, `token`, `feature`, `invert`) or a mapping with its parameters.
The mapping form `probes: {use: default, canaries: 4000, batch_mb: 64}` also sets the budget.

Every budget is a count (probes, canaries, steps, classes), never a duration: the same candidate
gets the same verdict on a fast runner and a slow one. The counts go into the baseline record,
and a record made with other counts is refused (see `probes.budget`).
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
    steps: int = Field(
        200,
        ge=10,
        le=100_000,
        description="Optimisation steps per class; in the second half a class stops once its "
        "trigger has not shrunk for 40 steps (deterministic: the same steps on any machine).",
    )
    canaries: int = Field(
        2000,
        ge=10,
        le=1_000_000,
        description="Canaries the search uses: an evenly spaced subset of the suite, those the "
        "model gets right; half to search, half to confirm the recovered trigger.",
    )
    batch: int = Field(64, ge=1, le=4096, description="Search canaries per optimisation step.")
    classes: int | None = Field(
        None,
        ge=1,
        description="Search at most this many classes (default: every class): the classes the "
        "probes flagged, strongest first, then the blessed record's, then by class index.",
    )
    universal: bool = Field(True, description="Also a universal-perturbation search (blends).")
    controls: int = Field(
        4,
        ge=0,
        le=1000,
        description="Clean control retrains `calibrate` inverts with these counts (the first "
        "by weights digest): their trigger sizes are each class's clean floor, the null of "
        "the size comparison. 0: none (the blessed model's sizes alone: more false alarms).",
    )
    budget_s: float | None = Field(
        None,
        gt=0,
        description="Wall-clock abort limit of the search: past it the run stops as undecided "
        "(exit 2). It never sizes the search and never changes a verdict.",
    )

    @property
    def universal_steps(self) -> int:
        return max(10, self.steps // 4) if self.universal else 0

    def budget(self) -> dict[str, Any]:
        """The counts that fix the search, as the baseline record keeps them."""
        return {
            "batch": self.batch,
            "canaries": self.canaries,
            "classes": "all" if self.classes is None else self.classes,
            "steps": self.steps,
            "universal_steps": self.universal_steps,
        }


ProbeSpec = Annotated[
    Union[PatchProbe, BlendProbe, TokenProbe, FeatureProbe, CustomProbe, InvertProbe],  # noqa: UP007
    Field(discriminator="kind"),
]
ProbeList = Union[Literal["default", "off"], list[ProbeSpec]]  # noqa: UP007
DEFAULT_PROBE_CANARIES = 4000
DEFAULT_BATCH_MB = 64.0


class ProbeSettings(StrictModel):
    """The mapping form of `probes:`: which probes, and the counts and memory they run in."""

    use: ProbeList = Field("default", description="`default`, `off`, or a list of probes.")
    canaries: int = Field(
        DEFAULT_PROBE_CANARIES,
        ge=10,
        le=1_000_000,
        description="Canaries every probe is stamped on: an evenly spaced subset of the suite, "
        "the same for every model (those the model gets right count).",
    )
    batch_mb: float = Field(
        DEFAULT_BATCH_MB,
        gt=0,
        le=1_000_000,
        description="Memory of one batch of stamped inputs, activations included, in MB: "
        "probe and inversion batches are sized from it and the model's layer sizes.",
    )


ProbesSetting = Union[Literal["default", "off"], list[ProbeSpec], ProbeSettings]  # noqa: UP007

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
    if isinstance(value, dict):
        return _settings(value)
    if isinstance(value, str) and value not in ("default", "off"):
        raise _error(f"must be default, off or a list of probes ({', '.join(KINDS)}, custom)")
    if not isinstance(value, list):
        return value
    return [_item(v, n) for n, v in enumerate(value)]


def _settings(value: dict[str, Any]) -> ProbeSettings:
    fields = dict(value)
    if "use" in fields:
        fields["use"] = normalise_setting(fields["use"])
        if isinstance(fields["use"], ProbeSettings):
            raise _error("use: must be default, off or a list of probes")
    try:
        return ProbeSettings.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, list(ProbeSettings.model_fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise _error(f"unknown key {key!r}{hint}") from None
        raise _error(f"{key}: {err['msg'][0].lower()}{err['msg'][1:]}") from None


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
    canaries: int = DEFAULT_PROBE_CANARIES
    batch_bytes: int = int(DEFAULT_BATCH_MB * 2**20)

    def probe_budget(self) -> dict[str, Any]:
        """The counts that fix the black-box probes, as the baseline record keeps them."""
        return {"canaries": self.canaries}


def plan(setting: Any, modality: str) -> ProbePlan:
    """Expand `probes:` for a suite of this modality; `off` gives an empty plan."""
    if isinstance(setting, ProbeSettings):
        inner = plan(setting.use, modality)
        return ProbePlan(
            inner.probes, inner.invert, setting.canaries, int(setting.batch_mb * 2**20)
        )
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
