"""`modelgate attribute` end to end, in a subprocess, on a tiny project whose poisoned rows are
known: exit codes, the flagged source, the quarantine files, determinism, bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from attribution_project import AttributionProject, build, cli


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> AttributionProject:
    return build(tmp_path_factory.mktemp("attribution"))


def test_a_failing_check_is_attributed_to_the_attacker_and_quarantined(
    poisoned: AttributionProject,
) -> None:
    done = cli("attribute", "-c", str(poisoned.config), cwd=poisoned.root)
    assert done.returncode == 1, done.stderr
    assert "flagged: carol" in done.stdout
    reports = poisoned.root / "reports"
    rows = list(csv.DictReader((reports / "quarantine.csv").open()))
    assert rows[0]["rank"] == "1" and rows[0]["source"] == "carol"
    poison_ids = {f"train-{i:03d}" for i in poisoned.poison}
    top = [r["id"] for r in rows[: len(poison_ids)]]
    assert len(set(top) & poison_ids) / len(poison_ids) >= 0.7
    data = json.loads((reports / "attribution.json").read_text())
    assert data["flagged_sources"] == ["carol"]
    assert data["budget"]["rows_scored"] == 600 and data["budget"]["permutations"] == 1999
    assert {r["source"] for r in data["quarantine"]} == {"carol"}
    markdown = (reports / "attribution.md").read_text()
    assert "## Which training data drove it" in markdown and "carol **flagged**" in markdown
    # Same inputs, byte-identical outputs.
    again = poisoned.root / "again"
    second = cli("attribute", "-c", str(poisoned.config), "--output-dir", str(again),
                 "--json", str(again / "copy.json"), cwd=poisoned.root)  # fmt: skip
    assert second.returncode == 1
    for name in ("quarantine.csv", "attribution.json", "attribution.md"):
        assert (again / name).read_bytes() == (reports / name).read_bytes(), name
    assert (again / "copy.json").read_bytes() == (reports / "attribution.json").read_bytes()


def test_a_passing_check_has_nothing_to_attribute(poisoned: AttributionProject) -> None:
    config = poisoned.root / "clean.yaml"
    text = poisoned.config.read_text().replace("candidate.safetensors", "clean.safetensors")
    config.write_text(text.replace("dir: reports", "dir: clean-reports"))
    done = cli("attribute", "-c", str(config), cwd=poisoned.root)
    assert done.returncode == 0, done.stderr
    assert "no failing finding to attribute" in done.stdout
    data = json.loads((poisoned.root / "clean-reports" / "attribution.json").read_text())
    assert data["findings"] == [] and data["flagged_sources"] == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("finding", "--finding: no check is named 'stats.nosuch'"),
        # refused before the model runs: a missing candidate is never reached
        ("finding_no_model", "--finding: no check is named 'stats.nosuch'"),
        ("no_training_data", "training_data: no training_data"),
        ("no_source_column", "samples.csv:1: source: no `source` column"),
        ("tampered", "inputs.npy: files.inputs.npy: file changed since the suite was frozen"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    poisoned: AttributionProject, tmp_path: Path, change: str, expected: str
) -> None:
    root = tmp_path / "p"
    shutil.copytree(poisoned.root, root, ignore=shutil.ignore_patterns("reports", "again"))
    config = root / "modelgate.yaml"
    args = ["attribute", "-c", str(config)]
    if change.startswith("finding"):
        args += ["--finding", "stats.nosuch"]
        if change == "finding_no_model":
            (root / "candidate.safetensors").unlink()
    elif change == "no_training_data":
        config.write_text(config.read_text().replace("training_data:", "# training_data:"))
    elif change == "no_source_column":
        table = root / "train" / "samples.csv"
        table.write_text(table.read_text().replace(",source,", ",origin,", 1))
        from modelgate.suite.freeze import freeze_suite

        freeze_suite(root / "train")
    else:
        (root / "train" / "inputs.npy").write_bytes(b"\x93NUMPY" + b"\x00" * 64)
    done = cli(*args, cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_help_lists_attribute_and_imports_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, modelgate.cli as c; c.build_parser();"
        "print(any(m.split('.')[0] in ('torch', 'captum') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert "attribute" in cli("--help", cwd=Path.cwd()).stdout


def test_check_attributes_a_failing_verdict_and_clears_it_on_a_pass(
    poisoned: AttributionProject, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    shutil.copytree(poisoned.root, root, ignore=shutil.ignore_patterns("reports", "again"))
    config = root / "modelgate.yaml"
    failed = cli("check", "-c", str(config), cwd=root)
    assert failed.returncode == 1, failed.stderr
    assert "attribution: training rows of carol carry far more" in failed.stdout
    reports = root / "reports"
    assert (reports / "quarantine.csv").is_file() and (reports / "attribution.md").is_file()
    assert "attribution: training rows of carol" in (reports / "modelgate-report.md").read_text()
    config.write_text(config.read_text().replace("candidate.safetensors", "baseline.safetensors"))
    passed = cli("check", "-c", str(config), cwd=root)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert not (reports / "quarantine.csv").exists()


def test_an_undecided_check_leaves_no_quarantine_list(
    poisoned: AttributionProject, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    shutil.copytree(poisoned.root, root, ignore=shutil.ignore_patterns("reports", "again"))
    config = root / "modelgate.yaml"
    assert cli("check", "-c", str(config), cwd=root).returncode == 1
    reports = root / "reports"
    assert (reports / "quarantine.csv").is_file()
    (root / "candidate.safetensors").write_bytes(b"not a model")
    undecided = cli("check", "-c", str(config), cwd=root)
    assert undecided.returncode == 2, undecided.stdout + undecided.stderr
    assert not (reports / "quarantine.csv").exists()
    assert not (reports / "attribution.json").exists()
