"""The command line as a user meets it: help, schema, suite commands, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from projects import Project, linear_weights, save_weights

from modelgate.cli import main
from modelgate.config import json_schema_text

ROOT = Path(__file__).resolve().parents[1]


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; from modelgate.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('torch', 'numpy', 'scipy', 'pydantic') if m in sys.modules]\n"
        "print('IMPORTED=' + ','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "IMPORTED="


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = capsys.readouterr().out
    for code in ("0  passed", "1  findings", "2  could not decide", "3  internal error"):
        assert code in text


def test_committed_schema_is_up_to_date() -> None:
    committed = (ROOT / "modelgate" / "schema" / "modelgate.schema.json").read_text()
    assert committed == json_schema_text(), "run: modelgate schema > modelgate/schema/..."


def test_schema_command_prints_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "policy" in schema["properties"] and schema["additionalProperties"] is False


def test_cli_subprocess_exit_codes(project: Project) -> None:
    run = [sys.executable, "-m", "modelgate", "check", "-c", str(project.config), "-q"]
    assert subprocess.run(run, capture_output=True, check=False).returncode == 0
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    done = subprocess.run(run, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "Traceback" not in done.stderr
    report = json.loads((project.root / "reports" / "modelgate-report.json").read_text())
    assert report["verdict"] == "failed"


def test_suite_init_freeze_verify_and_tamper(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["f1,f2,label,id,tags"] + [f"{i},{i % 3},{'ab'[i % 2]},row{i:02d}," for i in range(20)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    folder = tmp_path / "suite"
    assert (
        main(
            [
                "suite",
                "init",
                str(folder),
                "--inputs",
                str(tmp_path / "data.csv"),
                "--modality",
                "tabular",
                "--name",
                "t",
                "--curated-by",
                "me",
                "--source",
                "unit test",
            ]
        )
        == 0
    )
    assert main(["suite", "verify", str(folder)]) == 0
    assert (
        "unchanged"
        in (capsys.readouterr(), main(["suite", "freeze", str(folder)]), capsys.readouterr().out)[2]
    )
    samples = folder / "samples.csv"
    samples.write_text(samples.read_text().replace("row01,b", "row01,a"))
    assert main(["suite", "verify", str(folder)]) == 2
    assert "samples.csv" in capsys.readouterr().err
    assert main(["suite", "freeze", str(folder)]) == 0
    assert "version 2" in capsys.readouterr().out
    assert main(["suite", "verify", str(folder)]) == 0


def test_suite_init_from_npy_and_text(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((6, 2, 2), dtype=np.float32))
    (tmp_path / "labels.txt").write_text("a\nb\na\nb\na\nb\n")
    assert (
        main(
            [
                "suite",
                "init",
                str(tmp_path / "img"),
                "--inputs",
                str(tmp_path / "x.npy"),
                "--labels",
                str(tmp_path / "labels.txt"),
                "--modality",
                "image",
                "--name",
                "img",
                "--curated-by",
                "me",
                "--source",
                "zeros",
            ]
        )
        == 0
    )
    lines = [
        json.dumps({"text": f"text {i}", "label": "pos" if i % 2 else "neg"}) for i in range(4)
    ]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    assert (
        main(
            [
                "suite",
                "init",
                str(tmp_path / "txt"),
                "--inputs",
                str(tmp_path / "t.jsonl"),
                "--modality",
                "text",
                "--name",
                "txt",
                "--curated-by",
                "me",
                "--source",
                "made up",
            ]
        )
        == 0
    )
    from modelgate.suite.format import load_suite

    suite = load_suite(tmp_path / "txt")
    assert suite.inputs == [f"text {i}" for i in range(4)]
    assert suite.classes == ("neg", "pos")


def test_waive_rejects_unknown_canary(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "waive",
                "nope",
                "--to",
                "cat",
                "--reason",
                "r",
                "--by",
                "a",
                "-c",
                str(project.config),
            ]
        )
        == 2
    )
    assert "nope" in capsys.readouterr().err


def subparsers(parser: object) -> dict[str, object]:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_the_readme_commands_table_is_the_real_cli() -> None:
    """Every row of the README's "Commands" table names a real (sub)command, and every option it
    shows is one that command takes; every command has a row."""
    import argparse

    from modelgate.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    text = readme[readme.index("\n## Commands\n") :]
    text = text[: text.index("\n## ", 1)]
    rows = re.findall(r"^\| `modelgate ([^`]+)` \|", text, re.M)
    top = subparsers(build_parser())
    seen = set()
    for usage in rows:
        words = usage.split()
        parser = top[words[0]]
        name = words[0]
        if words[0] == "suite":
            parser, name = subparsers(parser)[words[1]], f"suite {words[1]}"
        assert isinstance(parser, argparse.ArgumentParser)
        seen.add(name)
        taken = {option for action in parser._actions for option in action.option_strings}
        shown = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", usage))
        assert shown <= taken, (usage, sorted(shown - taken))
    every = {n for n in top if n != "suite"}
    every |= {f"suite {n}" for n in subparsers(top["suite"])}
    assert seen == every
