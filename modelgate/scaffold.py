"""`modelgate init`: the files a new project needs, written without asking anything.

A commented config, an empty waivers file, a placeholder suite folder that says how to create
the suite, a GitHub workflow that runs the action, and `.gitignore` lines for what the gate writes
(the run ledger, the reports). Nothing is overwritten without `force`; a `.gitignore` that exists
only gets the lines it lacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from modelgate._version import __version__
from modelgate.atomic import write_text_atomic
from modelgate.errors import UsageError

MODALITIES = ("image", "tabular", "text")
# Pinned by commit SHA: a moved tag must not change what runs in the user's CI.
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2"
ACTION_REPO = "modelgate/modelgate"
# Without `--action-sha` the workflow names this instead of a commit. A git ref cannot contain
# `:`, so no branch or tag can ever match it: GitHub fails the job while setting it up, with
# this text in the error, until someone pins the action to a release they reviewed.
SHA_PLACEHOLDER = "PIN:the-full-commit-SHA-of-the-modelgate-release-you-reviewed"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
GITIGNORE = ".gitignore"
# What `check` writes beside the config: the run ledger and the reports (config `output.dir`).
IGNORED = (".modelgate/", "modelgate-report/", "modelgate-parts/")

# What `suite init` reads for each modality (see `modelgate suite init --help`).
_INPUTS = {
    "image": "--inputs canaries.npy --labels labels.txt",
    "tabular": "--inputs canaries.csv --label-column label",
    "text": "--inputs canaries.jsonl --label-column label",
}


@dataclass(frozen=True)
class Plan:
    """What `init` will write: relative path -> text."""

    files: dict[str, str]


def plan(
    *,
    suite: str = "main",
    modality: str = "image",
    candidate: str = "models/candidate.safetensors",
    factory: str = "model.py:build",
    action_sha: str | None = None,
) -> Plan:
    """The files of a new project, as text; nothing is written. The workflow runs the action at
    `action_sha` (a full commit SHA), else at a placeholder that fails until it is edited."""
    if action_sha is not None and not _SHA.match(action_sha):
        raise UsageError(
            f"--action-sha must be a full 40-character commit SHA, not {action_sha!r}",
            hint="a tag or branch can be moved to other code after you reviewed it",
        )
    if not _NAME.match(suite):
        raise UsageError(
            f"suite name {suite!r} must be letters, digits, '.', '_' or '-' (it names a folder)"
        )
    if modality not in MODALITIES:
        raise UsageError(f"modality must be one of {', '.join(MODALITIES)}, not {modality!r}")
    for value, option in ((candidate, "--candidate"), (factory, "--factory")):
        if not value.strip() or any(ord(ch) < 32 for ch in value):
            raise UsageError(f"{value!r} is blank or holds a control character", key=option)
    suite_dir = f"canaries/{suite}"
    return Plan(
        files={
            "modelgate.yaml": _config(suite, suite_dir, modality, candidate, factory),
            "waivers.yaml": _WAIVERS,
            f"{suite_dir}/README.md": _suite_readme(suite, suite_dir, modality),
            ".github/workflows/modelgate.yml": _workflow(action_sha),
        }
    )


def gitignore(existing: str | None) -> str | None:
    """`existing` (the project's `.gitignore`, or None) with the lines it lacks for what the
    gate writes; None when it has them all."""
    have = {line.strip() for line in (existing or "").splitlines()}
    missing = [entry for entry in IGNORED if entry not in have and entry.rstrip("/") not in have]
    if not missing:
        return None
    head = (existing or "").rstrip("\n")
    block = "# modelgate: the run ledger and the reports\n" + "".join(f"{m}\n" for m in missing)
    return f"{head}\n\n{block}" if head else block


def init_project(
    folder: str | Path,
    *,
    suite: str = "main",
    modality: str = "image",
    candidate: str = "models/candidate.safetensors",
    factory: str = "model.py:build",
    action_sha: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Write the planned files under `folder`; refuse to overwrite any unless `force`. The
    `.gitignore` is added to, never replaced."""
    root = Path(folder)
    files = plan(
        suite=suite, modality=modality, candidate=candidate, factory=factory, action_sha=action_sha
    ).files
    existing = [root / name for name in files if (root / name).exists()]
    if existing and not force:
        others = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UsageError(
            f"already exists{others}; nothing written",
            file=existing[0],
            hint="use --force to overwrite",
        )
    ignore_file = root / GITIGNORE
    try:
        ignored = gitignore(ignore_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        ignored = gitignore(None)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read it: {exc}", file=ignore_file) from None
    if ignored is not None:
        files = {**files, GITIGNORE: ignored}
    written = []
    for name, text in files.items():
        write_text_atomic(root / name, text)
        written.append(root / name)
    return written


def _yaml_str(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML), so any path round-trips."""
    import json

    return json.dumps(text, ensure_ascii=False)


def _config(suite: str, suite_dir: str, modality: str, candidate: str, factory: str) -> str:
    text_hint = (
        "  # Text models: replace `factory` with `callable: model.py:predict`, a function from a\n"
        "  # batch of texts to per-class scores (and set allow_code: true).\n"
        if modality == "text"
        else ""
    )
    return f"""\
# modelgate: stop a retrained model that changed behaviour nobody explained.
# Paths are relative to this file. Editor completion: `modelgate schema > modelgate.schema.json`.
#   modelgate check      # run the gate (exit 0 passed, 1 findings, 2 could not decide)
#   modelgate bless      # record the candidate as the blessed baseline (commit the file)
#   modelgate calibrate --control M1 M2 ...   # after each bless: clean churn of control retrains
version: 1

# Trusted, labelled canaries ({modality}), kept apart from the training data.
# Create the suite first: see {suite_dir}/README.md.
suite: {_yaml_str(suite_dir)}

# The retrained model under test: weights only (safetensors), built by your own reviewed code.
candidate:
  path: {_yaml_str(candidate)}
  factory: {_yaml_str(factory)}   # module:function or file.py:function returning the nn.Module
  allow_code: false   # refuse formats that run their author's code (.pt2, TorchScript)
{text_hint}
# The record of the model in production, written by `modelgate bless`.
baseline: {_yaml_str(f"baselines/{suite}.json")}

# How much clean retrains churn, from `modelgate calibrate` on a few (ten to twenty) retrains of
# the baseline's recipe with other seeds. Without it the statistics self-calibrate on the pair
# they judge (far weaker) and trigger probes cry wolf more often. Uncomment, then calibrate.
# calibration: {_yaml_str(f"baselines/{suite}.calibration.json")}

# Reviewed explanations of expected flips (`modelgate waive`).
waivers: waivers.yaml

policy:
  alpha: 0.01                  # false-alarm budget of the statistical tests
  protected: {{max_flips: 0}}    # canaries tagged `protected`: any flip fails
  accuracy: {{max_drop: 0.02}}   # largest accuracy drop allowed

output:
  dir: modelgate-report
  formats: [json, junit, markdown]
"""


_WAIVERS = """\
# Reviewed explanations of expected flips. Add one with:
#   modelgate waive CANARY_ID --to LABEL --reason "..." --by NAME [--expires YYYY-MM-DD]
version: 1
waivers: []
"""


def _suite_readme(suite: str, suite_dir: str, modality: str) -> str:
    return f"""\
# Canary suite `{suite}` (placeholder)

`modelgate.yaml` points here, but the suite does not exist yet. A suite is a set of trusted,
labelled examples ({modality}) that never go into training: the gate compares the candidate's
predictions on them with the blessed baseline's.

1. Collect a few hundred to a few thousand canaries per class from a source you trust, and tag
   the ones that must never flip as `protected`.
2. Create the suite (this writes `suite.yaml` with digests of every file):

       modelgate suite init {suite_dir} {_INPUTS[modality]} \\
           --modality {modality} --name {suite} --curated-by "YOUR TEAM" \\
           --source "where the canaries come from"

3. Bless the model in production as the baseline, then commit the suite and the baseline:

       modelgate bless --candidate models/production.safetensors

4. Retrain the baseline's recipe a few times with other seeds (ten to twenty clean controls),
   uncomment `calibration:` in `modelgate.yaml`, and record their churn (again after every
   bless; commit the record):

       modelgate calibrate --control models/control-*.safetensors

After editing the suite's files, run `modelgate suite freeze {suite_dir}`: a suite whose files
do not match their digests is refused.
"""


def _workflow(action_sha: str | None) -> str:
    if action_sha:
        pin = f"# Pinned to the full commit SHA of modelgate v{__version__}; to upgrade, review\n"
        pin += "      # the new release and pin its commit SHA here."
        uses = f"{ACTION_REPO}@{action_sha}  # v{__version__}"
    else:
        pin = "# Pin to the full commit SHA of the modelgate release you reviewed: until then\n"
        pin += "      # GitHub cannot resolve this action and the job fails before any step runs."
        uses = f"{ACTION_REPO}@{SHA_PLACEHOLDER}"
    return f"""\
# Gate every retrained model before it ships. Runs with a read-only token, so it is safe on
# pull requests from forks; to comment on the pull request, add the separate `workflow_run`
# workflow from the modelgate README (it only reads the report artifact).
name: modelgate

on:
  pull_request:
  push:
    branches: [main]

permissions:
  contents: read

jobs:
  gate:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
          # lfs: true   # if the models live in Git LFS
      {pin}
      - uses: {uses}
        id: gate
        with:
          config: modelgate.yaml
          # pip-spec: -e .   # if your factory imports your own package
"""
