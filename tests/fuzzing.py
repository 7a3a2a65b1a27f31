"""Mutation fuzzing of every file the gate reads: shared by tests/test_fuzz.py (hypothesis, a few
hundred examples) and benchmarks/fuzz.py (thousands, seeded).

A mutation is a short list of edits (delete, insert, replace) at positions of the valid file,
with tokens chosen to hit the traps: YAML 1.1 words, impossible dates, aliases, deep nesting,
huge numbers, NaN, control characters, wrong types. The oracle is the CLI's: a run may succeed
or fail with a ModelgateError or an OSError on a file (exit 2); anything else is exit 3, a bug.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelgate.errors import ModelgateError

TOKENS = (
    *("", " ", "\n", "\t", ":", "- ", "[", "]", "{", "}", ",", '"', "'", "#", "&a ", "*a"),
    *("!!python/object:os.system ", "no", "yes", "off", "On", "~", "null", "true"),
    *("2027-02-30", "2027-01-31", "1.10", "0x1F", "1e999", "NaN", "-1", "0"),
    *("99999999999999999999999", "9" * 400, "9" * 5000, "\x00", "\x1b[2J", "\u202e", "::error::x"),
    *("[" * 80, "{a: &b [1, 2], c: *b}", "a: &x [*x]", "\xff", "\U0001d54f", "<<: *a"),
    *("? complex\n: key", "%YAML 1.1\n---\n", '{"x": 1}', "[1, 2, 3]", '"logp": ["a"]'),
    *('"id": "blobs-000"', '"pred": null', "true,", "{}", "[]"),
)
OPS = ("delete", "insert", "replace", "line")
Edit = tuple[int, str, int, int]  # (position, op, token index, span)


def mutate(text: str, edits: Sequence[Edit]) -> str:
    """Apply `edits` to `text`; positions wrap around, so any integers make a valid edit."""
    for position, op, token, span in edits:
        n = len(text) + 1
        at = position % n
        piece = TOKENS[token % len(TOKENS)]
        if op == "delete":
            text = text[:at] + text[at + span % 40 :]
        elif op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "replace":
            text = text[:at] + piece + text[at + span % 12 :]
        else:  # replace the rest of the line: a scalar value becomes the token
            end = text.find("\n", at)
            text = text[:at] + piece + (text[end:] if end >= 0 else "")
    return text


@dataclass(frozen=True)
class Target:
    """One file the gate reads, and how the gate reads it."""

    name: str
    file: str  # relative to the project root
    load: Callable[[Path], object]


def _config(root: Path) -> object:
    from modelgate.config import load_config
    from modelgate.engine.inputs import load_inputs

    return load_inputs(load_config(root / "modelgate.yaml"))


def _inputs(root: Path) -> object:
    from modelgate.config import load_config
    from modelgate.engine.inputs import load_inputs

    return load_inputs(load_config(root / "fuzz.yaml"))


def _suite(root: Path) -> object:
    from modelgate.suite.format import load_suite

    return load_suite(root / "suite", verify=False)


def _samples(root: Path) -> object:
    from modelgate.suite.format import load_suite

    return load_suite(root / "suite", verify=False)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("config", "modelgate.yaml", _config),
        Target("waivers", "waivers.yaml", _inputs),
        Target("suite_manifest", "suite/suite.yaml", _suite),
        Target("samples_table", "suite/samples.csv", _samples),
        Target("baseline", "baseline.json", _inputs),
        Target("calibration", "calib.json", _inputs),
    )
}

# The fuzzed project reads records with the ledger's vouching off, so that a mutated record is
# parsed (the parser is what is fuzzed) instead of refused at once for its unknown digest.
FUZZ_CONFIG = textwrap.dedent(
    """
    version: 1
    suite: suite
    candidate: {path: candidate.safetensors, factory: model.py:build}
    baseline: baseline.json
    waivers: waivers.yaml
    calibration: calib.json
    trust: {ledger: "off"}
    """
).lstrip()


def build_fuzz_project(root: Path) -> Path:
    """A blessed, calibrated tiny project in `root`, plus `fuzz.yaml` that reads every record."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from projects import Project, build_project

    config = build_project(root)
    project = Project(root=root, config=config)
    controls = project.add_controls([(0, 1, 0.1), (1, 2, 0.1), (2, 0, 0.1), (0, 2, 0.1)])
    from modelgate.config import load_config
    from modelgate.engine.calibrate import calibrate_controls

    calibrate_controls(load_config(config), controls)
    (root / "fuzz.yaml").write_text(FUZZ_CONFIG)
    (root / "waivers.yaml").write_text(
        "version: 1\nwaivers:\n  - canary: blobs-001\n    to: eel\n    reason: r\n"
        "    approved_by: alice\n    expires: 2027-01-31\n"
    )
    return config


def outcome(target: Target, root: Path, text: str) -> tuple[int, str]:
    """(exit code the CLI would give, what happened) for `text` written to the target's file."""
    path = root / target.file
    original = path.read_bytes()
    try:
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            target.load(root)
        except ModelgateError as exc:
            return 2, exc.one_line()[:200]
        except OSError as exc:  # the CLI maps these to exit 2 too
            return 2, f"OSError: {exc}"[:200]
        except Exception as exc:  # exit 3: a bug in modelgate
            return 3, f"{type(exc).__name__}: {exc}"[:300]
        return 0, "loaded"
    finally:
        path.write_bytes(original)


def copy_project(source: Path, into: Path) -> Path:
    shutil.copytree(source, into, symlinks=True)
    return into
