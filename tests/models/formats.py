"""Tiny projects for the format tests: a suite, a config naming a model of some format, and the
real CLI run in a subprocess (no network, everything built in tmp_path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from projects import CLASSES, make_data

from modelgate.suite.freeze import init_suite


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def cli(config: Path, *args: str, timeout: float = 300, tmpdir: Path | None = None) -> Run:
    """`modelgate ARGS -c CONFIG` in a subprocess, offline (any hub access fails loudly)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_COLOR": "1"}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    done = subprocess.run(
        [sys.executable, "-m", "modelgate", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=config.parent,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def write_config(root: Path, candidate: str, *, extra: str = "", suite: str = "suite") -> Path:
    """A config whose candidate block is `candidate` (YAML, indented under `candidate:`)."""
    body = textwrap.indent(textwrap.dedent(candidate).strip(), "  ")
    text = (
        f"version: 1\nsuite: {suite}\ncandidate:\n{body}\nbaseline: baseline.json\n"
        f"output:\n  dir: reports\n{textwrap.dedent(extra)}"
    )
    path = root / "modelgate.yaml"
    path.write_text(text)
    return path


def tabular_suite(root: Path) -> tuple[object, object]:
    """The 3-class blobs suite of `projects.py` in `root/suite`; returns its (x, labels)."""
    x, labels = make_data()
    init_suite(
        root / "suite",
        name="blobs",
        modality="tabular",
        inputs=x,
        labels=[CLASSES[c] for c in labels],
        classes=CLASSES,
        tags=["protected" if i < 3 else "" for i in range(len(labels))],
        curated_by="tests",
        source="tests/projects.py make_data seed 0",
    )
    return x, labels


def report(root: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((root / "reports" / "modelgate-report.json").read_text())
    return data


def failed_checks(root: Path) -> set[str]:
    checks = report(root)["checks"]
    assert isinstance(checks, list)
    return {c["name"] for c in checks if c["status"] == "failed"}
