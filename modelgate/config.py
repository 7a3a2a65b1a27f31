"""`modelgate.yaml` -> a typed, validated Config.

The pydantic models below are the single source of truth: they validate the file and generate
the published JSON Schema (`modelgate schema`). Every error names file, line and key path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, Field, field_validator

from modelgate.errors import ConfigError
from modelgate.paths import resolved
from modelgate.probe_settings import ProbesSetting, TriggerPolicy, normalise_setting
from modelgate.validation import StrictModel, TestMode, validate_mapping
from modelgate.yamlfile import LocatedYaml, load_yaml

DEFAULT_CONFIG_NAME = "modelgate.yaml"
CONFIG_VERSION = 1

ModelFormat = Literal[
    "auto", "state_dict", "export", "torchscript", "callable", "onnx", "huggingface", "skops"
]
ReportFormat = Literal["json", "junit", "markdown"]
DEFAULT_FORMATS: tuple[ReportFormat, ...] = ("json", "junit", "markdown")


def _not_blank(value: str) -> str:
    """A blank path resolves to the config's own folder, a blank name to nothing: say so."""
    if not value.strip():
        raise ValueError("is blank; name a file, or leave the key out")
    return value


# Every path and `module:function` name in a config: never blank.
FileName = Annotated[str, AfterValidator(_not_blank)]


class SandboxSpec(StrictModel):
    """Limits of the subprocess a code-bearing model runs in (`allow_code: true`)."""

    enabled: bool = Field(
        True,
        description="False runs code formats inside modelgate's own process, unconfined "
        "(only for a model whose code you wrote).",
    )
    cpu_s: int = Field(3600, ge=1, le=86_400, description="CPU seconds for the whole model.")
    memory_mb: int = Field(
        8192, ge=256, le=1_048_576, description="Address space of the model's process (MiB)."
    )
    require: bool = Field(
        False,
        description="True refuses to run when the OS cannot cut the network or confine writes "
        "(no seccomp / Landlock); false runs with the limits it has and reports which.",
    )


class SignatureSpec(StrictModel):
    """An OpenSSF model-signing signature of the model file or folder (elliptic-curve key)."""

    public_key: FileName = Field(description="PEM public key (EC P-256/384/521) of the signer.")
    path: FileName | None = Field(None, description="The signature; default: the model path + .sig")


class ModelSpec(StrictModel):
    """How to load one model. Formats that carry code are refused when `allow_code` is false."""

    path: FileName | None = Field(None, description="Model file, relative to the config's folder.")
    format: ModelFormat = Field("auto", description="Inferred from the file extension on auto.")
    factory: FileName | None = Field(
        None,
        description="`module:function` or `file.py:function` that builds the nn.Module whose "
        "state dict `path` holds.",
    )
    callable: FileName | None = Field(
        None,
        description="`module:function` or `file.py:function` mapping a batch of raw inputs "
        "to per-class scores (black-box models: text pipelines, sklearn, anything).",
    )
    output: Literal["logits", "probs", "log_probs"] = Field(
        "logits", description="What the model's scores are."
    )
    allow_code: bool = Field(
        False,
        description="True allows formats that run their author's code on load "
        "(torch.export, TorchScript, callables); by default only weights + your factory run. "
        "Such a model runs in a resource-limited subprocess (see `sandbox`).",
    )
    sandbox: SandboxSpec = Field(
        default_factory=lambda: SandboxSpec(), description="Limits of the code-format sandbox."
    )
    trusted_types: list[str] = Field(
        default_factory=list,
        description="skops: the fully qualified types the file may construct beyond skops' "
        "safe defaults (numpy, scikit-learn estimators), e.g. a function a FunctionTransformer "
        "names; a file with any other type is refused.",
    )
    method: Literal["auto", "predict_proba", "decision_function"] = Field(
        "auto",
        description="skops: the estimator's scores; auto takes predict_proba when it has one.",
    )
    signature: SignatureSpec | None = Field(
        None,
        description="Refuse the model file unless it carries a valid OpenSSF model-signing "
        "signature by this key.",
    )

    @field_validator("signature", mode="before")
    @classmethod
    def _signature_shorthand(cls, value: Any) -> Any:
        return {"public_key": value} if isinstance(value, str) else value


class ProtectedPolicy(StrictModel):
    max_flips: int = Field(0, ge=0, description="Flips allowed among canaries tagged protected.")
    margin_collapse: TestMode = Field(
        "fail", description="A protected canary whose margin collapses without flipping."
    )


class TagBudget(StrictModel):
    max_flips: int | None = Field(None, ge=0, description="Any flip of a canary with this tag.")
    max_negative_flips: int | None = Field(None, ge=0, description="Right -> wrong flips.")


class AccuracyPolicy(StrictModel):
    max_drop: float = Field(0.02, ge=0, le=1, description="Largest accuracy drop allowed.")


class TestsPolicy(StrictModel):
    """Each statistical test can fail the gate, only warn, or be switched off."""

    mcnemar: TestMode = "fail"
    per_class: TestMode = "fail"
    destination: TestMode = "fail"
    attraction: TestMode = "fail"
    # single canaries moved far beyond clean churn (instance-targeted attacks)
    reversal: TestMode = "fail"


class DriftPolicy(StrictModel):
    """Cumulative drift: the candidate against the blessed models of earlier blessings."""

    window: int = Field(
        5, ge=1, le=100, description="How many blessings before the current baseline to compare."
    )
    mode: TestMode = Field("fail", description="What a shift that built up over them does.")


class Policy(StrictModel):
    alpha: float = Field(
        0.01, gt=0, lt=1, description="False-alarm budget of the whole statistical family."
    )
    protected: ProtectedPolicy = ProtectedPolicy()
    tags: dict[str, TagBudget] = Field(default_factory=dict)
    accuracy: AccuracyPolicy = AccuracyPolicy()
    tests: TestsPolicy = TestsPolicy()
    expired_waivers: TestMode = Field("warn", description="What an expired waiver does.")
    drift: DriftPolicy = DriftPolicy()
    triggers: TriggerPolicy = TriggerPolicy()


class InferenceSpec(StrictModel):
    batch_size: int = Field(256, ge=1, le=1_000_000)
    threads: int | None = Field(
        None, ge=1, le=4096, description="torch intra-op threads; default torch's."
    )
    timeout_s: float = Field(
        600,
        gt=0,
        le=86_400,
        description="Longest a model may take to load or to score one batch; past it the run "
        "aborts as undecided (exit 2). A timeout only aborts: it never changes a verdict.",
    )
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu",
        description="Where torch models run: cpu, cuda, or auto (cuda when torch sees a GPU, "
        "else cpu). The verdict is the CPU's; the report names the device used.",
    )
    engine: Literal["local", "ray"] = Field(
        "local",
        description="Where the suite is predicted: local (this process) or ray (Ray Data "
        "map_batches over a Ray cluster, `pip install modelgate[ray]`); the probes, the "
        "inversion and the statistics always run in this process. Same predictions either way.",
    )
    address: str | None = Field(
        None,
        description="engine: ray only. The cluster to join: `auto` (a running cluster on this "
        "machine), `ray://host:10001`, or unset for a local Ray started for this run.",
    )
    num_gpus_per_worker: float = Field(
        0,
        ge=0,
        le=64,
        description="engine: ray only. GPUs each Ray worker (one model copy) reserves; 0 for CPU.",
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="engine: ray only. Ray workers, each loading the model once; default: as "
        "many as the cluster's CPUs (or GPUs, with num_gpus_per_worker) allow.",
    )


class TrustSpec(StrictModel):
    """How `check` verifies the baseline and calibration records before it trusts them."""

    blessed_model: Union[str, ModelSpec, None] = Field(  # noqa: UP007
        None,
        description="The blessed model's file (or a spec like `candidate`; keys left out are "
        "the candidate's): check re-predicts canaries with it and refuses a baseline record "
        "that disagrees, or that names another model.",
    )
    repredict: Union[Literal["all"], Annotated[int, Field(ge=1)]] = Field(  # noqa: UP007
        "all",
        description="With blessed_model: `all` canaries, or N for a sample of N (the protected "
        "canaries plus a sample keyed by the record's digest).",
    )
    public_key: FileName | None = Field(
        None,
        description="ed25519 public key (PEM) of the team's signing key: the baseline and "
        "calibration records must carry a valid signature (`RECORD.sig`, `modelgate sign`).",
    )
    ledger: Literal["auto", "require", "off"] = Field(
        "auto",
        description="auto: refuse a record the run ledger does not know once it knows any for "
        "that path; require: also refuse when it knows none; off: do not ask it.",
    )

    @field_validator("blessed_model", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value


class OutputSpec(StrictModel):
    dir: FileName = "modelgate-report"
    formats: list[ReportFormat] = Field(default_factory=lambda: list(DEFAULT_FORMATS))


class HistorySpec(StrictModel):
    """The run ledger (SQLite) where every check and bless is recorded."""

    path: FileName = Field(
        ".modelgate/history.sqlite", description="Ledger file, relative to the config's folder."
    )
    enabled: bool = Field(True, description="False records nothing and skips the drift check.")


class TrainingDataSpec(StrictModel):
    """The training-data manifest and the budget of `modelgate attribute`."""

    path: FileName = Field(
        description="Training-data manifest folder (suite format plus a `source` column), "
        "relative to the config's folder: the candidate's training set, or only the rows "
        "added since the blessed model."
    )
    max_rows: int = Field(
        200_000,
        ge=1,
        le=100_000_000,
        description="Most training rows scored; beyond it the most recently `added` rows "
        "(then by id) are scored and the report says how many were left out.",
    )
    max_canaries: int = Field(
        64,
        ge=1,
        le=100_000,
        description="Most canaries (flipped or stamped) per finding whose behaviour is "
        "attributed; chosen by canary id.",
    )
    permutations: int = Field(
        9999,
        ge=99,
        le=1_000_000,
        description="Label-stratified permutations of the per-source test (the smallest "
        "p-value it can give is 1 / (permutations + 1)).",
    )
    report_rows: int = Field(
        100, ge=1, le=1_000_000, description="Top rows per finding kept in the reports."
    )
    batch_size: int = Field(256, ge=1, le=1_000_000, description="Training rows per batch.")


class Settings(StrictModel):
    version: Literal[1] = Field(description="Config format version; must be 1.")
    suite: FileName = Field(description="Canary suite folder (holds suite.yaml).")
    candidate: Union[str, ModelSpec] = Field(description="The model under test.")  # noqa: UP007
    baseline: FileName = Field(description="Blessed baseline record written by `modelgate bless`.")
    calibration: FileName | None = Field(None, description="Churn calibration record (optional).")
    waivers: FileName | None = Field(None, description="Waivers file (optional).")
    policy: Policy = Policy()
    inference: InferenceSpec = InferenceSpec()
    output: OutputSpec = OutputSpec()
    history: HistorySpec = HistorySpec()
    trust: TrustSpec = TrustSpec()
    probes: ProbesSetting = Field(
        "default",
        description="Trigger probes: `default` (the suite's modality, plus inversion for torch "
        "models), `off`, or a list of patch / blend / token / feature / custom / invert.",
    )
    training_data: Union[str, TrainingDataSpec, None] = Field(  # noqa: UP007
        None,
        description="Training-data manifest (suite format plus a `source` column) for "
        "`modelgate attribute`: which training rows and sources drove a failing finding.",
    )

    @field_validator("candidate", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("training_data", mode="before")
    @classmethod
    def _training_data_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("probes", mode="before")
    @classmethod
    def _probe_shorthand(cls, value: Any) -> Any:
        return normalise_setting(value)


@dataclass(frozen=True)
class Config:
    """A validated config with every path made absolute."""

    path: Path
    sha256: str
    settings: Settings  # the validated YAML (the schema's model, not an ML model)
    folder: Path
    located: LocatedYaml | None = None

    def resolve(self, relative: str) -> Path:
        return resolved(self.folder / relative)

    @property
    def candidate(self) -> ModelSpec:
        assert isinstance(self.settings.candidate, ModelSpec)
        return self.settings.candidate

    @property
    def suite_path(self) -> Path:
        return self.resolve(self.settings.suite)

    @property
    def baseline_path(self) -> Path:
        return self.resolve(self.settings.baseline)

    @property
    def policy(self) -> Policy:
        return self.settings.policy

    def line_of(self, key_path: str) -> int | None:
        return self.located.line_of(key_path) if self.located else None


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; raise ConfigError naming file, line and key."""
    config_path = Path(path)
    if config_path.is_dir():
        config_path = config_path / DEFAULT_CONFIG_NAME
    located = load_yaml(config_path, ConfigError, what="config file")
    if isinstance(located.data, dict) and isinstance(located.data.get("version"), float):
        raise ConfigError(
            f"must be the integer {CONFIG_VERSION}, not the float {located.data['version']!r}",
            file=config_path,
            key="version",
            line=located.line_of("version"),
        )
    model = validate_mapping(located, Settings, ConfigError)
    candidate = model.candidate
    assert isinstance(candidate, ModelSpec)
    if candidate.path is None and candidate.callable is None:
        raise ConfigError(
            "needs `path` (a model file) or `callable`",
            file=config_path,
            key="candidate",
            line=located.line_of("candidate"),
        )
    digest = hashlib.sha256(config_path.read_bytes()).hexdigest()
    return Config(
        path=resolved(config_path),
        sha256=digest,
        settings=model,
        folder=resolved(config_path).parent,
        located=located,
    )


def blessed_model_spec(config: Config) -> ModelSpec | None:
    """`trust.blessed_model` with every key it leaves out taken from the candidate's spec."""
    given = config.settings.trust.blessed_model
    if given is None:
        return None
    assert isinstance(given, ModelSpec)
    # The file is never inherited: a blessed model is its own file (or a callable alone).
    inherited = {
        k: v for k, v in config.candidate if k not in given.model_fields_set and k != "path"
    }
    return given.model_copy(update=inherited)


def with_candidate_path(config: Config, path: str | Path) -> Config:
    """The same config with another candidate file (a command-line override)."""
    candidate = config.candidate.model_copy(update={"path": str(resolved(path))})
    model = config.settings.model_copy(update={"candidate": candidate})
    return replace(config, settings=model)


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of modelgate.yaml (for editor completion)."""
    schema = Settings.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "modelgate.yaml"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
