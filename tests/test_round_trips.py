"""What one command writes, the next reads: waive -> check, suite init -> the model's class
order, bless -> its accuracy on screen; and the safe defaults a config gets by saying nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from projects import Project

from modelgate.cli import main
from modelgate.config import ModelSpec


def test_waive_writes_a_date_the_next_check_accepts(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["waive", "blobs-001", "--to", "eel", "--reason", "ticket 7", "--by", "alice"]
    assert main([*argv, "--expires", "2027-01-31", "-c", str(project.config)]) == 0
    assert "expires: 2027-01-31\n" in (project.root / "waivers.yaml").read_text()
    assert main(["check", "-c", str(project.config)]) == 0
    assert "waivers: 0 used, 1 unused, 0 expired" in capsys.readouterr().out


def test_waive_quotes_a_label_yaml_would_misread(project: Project) -> None:
    from modelgate.waivers import WaiverEntry, append_waiver, load_waivers

    path = project.root / "w.yaml"
    for to in ("no", "1.10", "on"):
        append_waiver(path, WaiverEntry(canary="blobs-001", to=to, reason="r", approved_by="a"))
    entries = load_waivers(path, ("no", "1.10", "on")).entries
    assert [e.to for e in entries] == ["no", "1.10", "on"]


def test_suite_init_keeps_numeric_classes_in_numeric_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = [str(i % 12) for i in range(36)]
    np.save(tmp_path / "x.npy", np.zeros((36, 2), dtype=np.float32))
    (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n")
    argv = ["suite", "init", str(tmp_path / "s"), "--inputs", str(tmp_path / "x.npy")]
    argv += ["--labels", str(tmp_path / "labels.txt"), "--modality", "tabular", "--name", "n"]
    assert main([*argv, "--curated-by", "t", "--source", "s"]) == 0
    order = ", ".join(str(i) for i in range(12))
    assert f"classes, in model output order: {order}" in capsys.readouterr().out
    from modelgate.suite.format import read_manifest

    assert read_manifest(tmp_path / "s").classes == [str(i) for i in range(12)]


@pytest.mark.parametrize(
    ("labels", "order"),
    [
        (["b", "a", "c"], ["a", "b", "c"]),
        (["class10", "class2", "class1"], ["class1", "class2", "class10"]),
        (["10", "9", "-1", "0.5"], ["-1", "0.5", "9", "10"]),
    ],
)
def test_class_order_is_natural(labels: list[str], order: list[str]) -> None:
    from modelgate.suite.freeze import class_order

    assert class_order(labels) == order


def test_bless_prints_the_baseline_accuracy(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.root / "baseline.json").unlink()
    assert main(["bless", "-c", str(project.config)]) == 0
    assert "canary accuracy 98.75%" in capsys.readouterr().out
    assert main(["bless", "-c", str(project.config)]) == 0
    assert "canary accuracy 98.75% -> 98.75%" in capsys.readouterr().out


def test_allow_code_is_false_unless_the_config_says_true() -> None:
    assert ModelSpec(path="m.pt2").allow_code is False


def test_probes_off_stays_the_documented_spelling(project: Project) -> None:
    """`probes: off` is the one place a YAML 1.1 word is read as the word: its validator maps
    the boolean to `off` on purpose (documented since the first release)."""
    from modelgate.config import load_config

    project.config.write_text(project.config.read_text() + "probes: off\n")
    assert load_config(project.config).settings.probes == "off"


def test_a_closed_stdout_is_no_internal_error(project: Project) -> None:
    """`modelgate check >&-` and `| head`: the verdict stands, nothing crashes with exit 3."""
    check = ["check", "-c", str(project.config)]
    closed = subprocess.run(
        [sys.executable, "-m", "modelgate", *check],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        preexec_fn=lambda: __import__("os").close(1),
    )
    assert closed.returncode == 0 and "Traceback" not in closed.stderr
    with subprocess.Popen(
        [sys.executable, "-m", "modelgate", "schema"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as head:
        assert head.stdout is not None and head.stderr is not None
        head.stdout.readline()
        head.stdout.close()  # what `| head -1` does
        err = head.stderr.read()
        code = head.wait()
    assert code in (0, 2) and "Traceback" not in err and "internal error" not in err


class _ClosedPipe:
    """A stdout whose reader has gone away, as after `| head`."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def isatty(self) -> bool:
        return False


def test_a_broken_pipe_keeps_the_verdict_of_check(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["check", "-c", str(project.config)]) == 0
    assert (project.root / "reports" / "modelgate-report.json").is_file()


def test_a_broken_pipe_elsewhere_is_exit_2_not_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["schema"]) == 2
    assert "standard output was closed" in capsys.readouterr().err


def test_an_internal_error_removes_the_earlier_reports(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    explicit = project.root / "mine.json"
    assert main(["check", "-c", str(project.config), "--json", str(explicit)]) == 0
    assert explicit.is_file() and (project.root / "reports" / "modelgate-report.md").is_file()

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in modelgate")

    monkeypatch.setattr("modelgate.engine.check.check_candidate", bug)
    assert main(["check", "-c", str(project.config), "--json", str(explicit)]) == 3
    assert "internal error: RuntimeError" in capsys.readouterr().err
    assert not explicit.exists() and not list((project.root / "reports").iterdir())


def test_waive_keeps_a_comment_that_quotes_an_empty_list(tmp_path: Path) -> None:
    from modelgate.waivers import WaiverEntry, append_waiver, load_waivers

    path = tmp_path / "w.yaml"
    path.write_text("# start from `waivers: []`\nversion: 1\nwaivers: []  # none yet\n")
    append_waiver(path, WaiverEntry(canary="blobs-001", to="eel", reason="r", approved_by="a"))
    text = path.read_text()
    assert text.startswith("# start from `waivers: []`\nversion: 1\nwaivers:  # none yet\n")
    assert [e.to for e in load_waivers(path, ("eel",)).entries] == ["eel"]


@pytest.mark.parametrize("start", ["version: 1\r\nwaivers: []\r\n", "version: 1\r\nwaivers:\r\n"])
def test_waive_keeps_the_windows_line_ends_of_the_file(tmp_path: Path, start: str) -> None:
    from modelgate.waivers import WaiverEntry, append_waiver, load_waivers

    path = tmp_path / "w.yaml"
    path.write_bytes(start.encode())
    for canary in ("blobs-001", "blobs-002"):
        append_waiver(path, WaiverEntry(canary=canary, to="eel", reason="r", approved_by="a"))
    data = path.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n") > 4, data
    assert [e.canary for e in load_waivers(path, ("eel",)).entries] == ["blobs-001", "blobs-002"]
