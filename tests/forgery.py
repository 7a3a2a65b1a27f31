"""What an attacker who can edit the records does: forge a baseline, edit one prediction.

Shared by the trust tests and the bad-input catalogue. A forged baseline keeps the real header
(suite digest, the blessed model's digest, `forced: false`) over another model's predictions;
a one-canary edit flips the recorded prediction of a single canary.
"""

from __future__ import annotations

import json
from pathlib import Path

from projects import Project, linear_weights, save_weights

from modelgate.baseline import render_baseline
from modelgate.config import load_config, with_candidate_path
from modelgate.engine.candidate import predict_with_model
from modelgate.suite.format import load_suite

POISONED_SHIFT = (0, 1, 2.5)  # moves class 0's canaries toward class 1: the check fails on it


def forge_baseline(project: Project, shift: tuple[int, int, float] = POISONED_SHIFT) -> Path:
    """Rewrite baseline.json with a shifted model's predictions under the real header."""
    other = project.root / "poisoned.safetensors"
    save_weights(other, linear_weights(shift=shift))
    config = with_candidate_path(load_config(project.config), other)
    suite = load_suite(config.suite_path)
    predictions, _ = predict_with_model(config, suite)
    path = project.root / "baseline.json"
    header = json.loads(path.read_text())["header"]
    path.write_text(render_baseline(suite, predictions, header))
    return other


def edit_one_canary(project: Project, canary: str = "blobs-004") -> None:
    """Change one canary's recorded prediction (and its scores to match) in baseline.json."""
    path = project.root / "baseline.json"
    lines = path.read_text().splitlines(keepends=True)
    for n, line in enumerate(lines):
        if f'"id": "{canary}"' in line:
            row = json.loads(line.strip().rstrip(","))
            logp = row["logp"]
            top = max(range(len(logp)), key=lambda c: logp[c])
            other = (top + 1) % len(logp)
            logp[top], logp[other] = logp[other], logp[top]
            row["pred"] = ["cat", "dog", "eel"][other]
            tail = ",\n" if line.rstrip().endswith(",") else "\n"
            lines[n] = "    " + json.dumps(row, separators=(", ", ": ")) + tail
            break
    else:
        raise AssertionError(f"{canary} not in the record")
    path.write_text("".join(lines))


def poison_candidate(project: Project) -> None:
    """Make the candidate the poisoned model (what the forged baseline hides)."""
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=POISONED_SHIFT))
