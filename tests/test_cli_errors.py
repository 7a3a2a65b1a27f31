"""Bad input never crashes: each case exits 2 with one line naming the file and key.

Each case breaks one thing in a freshly blessed project, runs `modelgate check`, and asserts the
exit code, a single-line message naming the file (and key where there is one), no traceback,
and no report written.
"""

from __future__ import annotations

import json
import pickle
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from projects import Project, save_weights

from modelgate.cli import main


class Evil:
    """Unpickling this would run code; the loader must refuse before that."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("pwned",))


def _config(p: Project, text: str) -> None:
    p.config.write_text(textwrap.dedent(text).lstrip())


def _edit_config(p: Project, old: str, new: str) -> None:
    p.config.write_text(p.config.read_text().replace(old, new))


def malformed_yaml(p: Project) -> None:
    _config(p, "version: 1\nsuite: [unclosed\n")


def unknown_key(p: Project) -> None:
    _edit_config(p, "baseline:", "baselin:")


def duplicate_key(p: Project) -> None:
    p.config.write_text(p.config.read_text() + "suite: other\n")


def wrong_type(p: Project) -> None:
    p.config.write_text(p.config.read_text() + "policy:\n  alpha: high\n")


def alpha_out_of_range(p: Project) -> None:
    p.config.write_text(p.config.read_text() + "policy:\n  alpha: 2\n")


def float_version(p: Project) -> None:
    _edit_config(p, "version: 1", "version: 1.10")


def missing_suite(p: Project) -> None:
    _edit_config(p, "suite: suite", "suite: nowhere")


def missing_model(p: Project) -> None:
    (p.root / "candidate.safetensors").unlink()


def tampered_suite(p: Project) -> None:
    path = p.root / "suite" / "samples.csv"
    path.write_text(path.read_text().replace("blobs-001,dog", "blobs-001,eel"))


def baseline_other_suite(p: Project) -> None:
    path = p.root / "baseline.json"
    data = json.loads(path.read_text())
    data["header"]["suite"]["digest"] = "0" * 64
    path.write_text(json.dumps(data))


def missing_baseline(p: Project) -> None:
    (p.root / "baseline.json").unlink()


def missing_factory(p: Project) -> None:
    _edit_config(p, "model.py:build", "model.py:no_such_function")


def factory_module_missing(p: Project) -> None:
    _edit_config(p, "model.py:build", "no_such_module:build")


def wrong_outputs(p: Project) -> None:
    import torch

    _edit_config(p, "model.py:build", "model.py:build_wrong_outputs")
    save_weights(
        p.root / "candidate.safetensors", {"weight": torch.zeros(5, 4), "bias": torch.zeros(5)}
    )


def nan_outputs(p: Project) -> None:
    import torch

    _edit_config(p, "model.py:build", "model.py:build_nan")
    save_weights(
        p.root / "candidate.safetensors",
        {"linear.weight": torch.zeros(3, 4), "linear.bias": torch.zeros(3)},
    )


def raising_model(p: Project) -> None:
    import torch

    _edit_config(p, "model.py:build", "model.py:build_raising")
    save_weights(
        p.root / "candidate.safetensors",
        {"linear.weight": torch.zeros(3, 4), "linear.bias": torch.zeros(3)},
    )


def pickled_code(p: Project) -> None:
    (p.root / "candidate.pt").write_bytes(pickle.dumps(Evil()))
    _edit_config(p, "candidate.safetensors", "candidate.pt")


def torch_file_with_object(p: Project) -> None:
    import torch

    torch.save({"weight": torch.zeros(3, 4), "extra": Evil()}, p.root / "candidate.pt")
    _edit_config(p, "candidate.safetensors", "candidate.pt")


def weights_do_not_fit(p: Project) -> None:
    import torch

    save_weights(p.root / "candidate.safetensors", {"weight": torch.zeros(3, 9)})


def corrupt_safetensors(p: Project) -> None:
    (p.root / "candidate.safetensors").write_bytes(b"not a safetensors file")


def empty_suite(p: Project) -> None:
    suite = p.root / "suite"
    (suite / "samples.csv").write_text("id,label,tags,source,added\n")
    np.save(suite / "inputs.npy", np.zeros((0, 4), dtype=np.float32))
    from modelgate.suite.freeze import freeze_suite

    with pytest.raises(Exception, match="no canaries"):
        freeze_suite(suite)  # freezing an empty suite is refused too
    import yaml

    from modelgate.digest import file_sha256

    manifest = yaml.safe_load((suite / "suite.yaml").read_text())
    manifest["files"] = {n: "sha256:" + file_sha256(suite / n) for n in manifest["files"]}
    (suite / "suite.yaml").write_text(yaml.safe_dump(manifest))  # digests match: not tampered


def label_outside_classes(p: Project) -> None:
    path = p.root / "suite" / "samples.csv"
    path.write_text(path.read_text().replace("blobs-001,dog", "blobs-001,wolf"))
    from modelgate.suite.freeze import freeze_suite

    with pytest.raises(Exception, match="wolf"):
        freeze_suite(p.root / "suite")


def unfrozen_suite(p: Project) -> None:
    import yaml

    path = p.root / "suite" / "suite.yaml"
    manifest = yaml.safe_load(path.read_text())
    del manifest["files"]
    path.write_text(yaml.safe_dump(manifest))


def pickled_suite_array(p: Project) -> None:
    np.save(p.root / "suite" / "inputs.npy", np.array([object()] * 240), allow_pickle=True)


def code_refused(p: Project) -> None:
    (p.root / "candidate.pt2").write_bytes(b"whatever")
    _config(
        p,
        """
        version: 1
        suite: suite
        candidate: {path: candidate.pt2, allow_code: false}
        baseline: baseline.json
        """,
    )


def malformed_waivers(p: Project) -> None:
    (p.root / "waivers.yaml").write_text(
        "version: 1\nwaivers:\n  - canary: blobs-001\n    to: dog\n"
    )


def waiver_unknown_label(p: Project) -> None:
    (p.root / "waivers.yaml").write_text(
        textwrap.dedent("""
        version: 1
        waivers:
          - canary: blobs-001
            to: wolf
            reason: relabelled
            approved_by: alice
        """)
    )


CASES: dict[str, tuple[Callable[[Project], None], str, str | None]] = {
    # name: (break the project, file named in the message, key named in the message)
    "malformed_yaml": (malformed_yaml, "modelgate.yaml:", "malformed YAML"),
    "unknown_key": (unknown_key, "modelgate.yaml", "did you mean 'baseline'"),
    "duplicate_key": (duplicate_key, "modelgate.yaml:", "suite: duplicate key"),
    "wrong_type": (wrong_type, "modelgate.yaml:", "policy.alpha"),
    "alpha_out_of_range": (alpha_out_of_range, "modelgate.yaml:", "policy.alpha"),
    "float_version": (float_version, "modelgate.yaml:1", "version"),
    "missing_suite": (missing_suite, "nowhere", None),
    "missing_model": (missing_model, "candidate.safetensors", "candidate.path"),
    "tampered_suite": (tampered_suite, "samples.csv", "files.samples.csv"),
    "baseline_other_suite": (baseline_other_suite, "baseline.json", "header.suite.digest"),
    "missing_baseline": (missing_baseline, "baseline.json", "baseline"),
    "missing_factory": (missing_factory, "modelgate.yaml", "candidate.factory"),
    "factory_module_missing": (factory_module_missing, "modelgate.yaml", "candidate.factory"),
    "wrong_outputs": (wrong_outputs, "candidate.safetensors", "output"),
    "nan_outputs": (nan_outputs, "candidate.safetensors", "output"),
    "raising_model": (raising_model, "candidate.safetensors", "candidate"),
    "pickled_code": (pickled_code, "candidate.pt", "candidate.path"),
    "torch_file_with_object": (torch_file_with_object, "candidate.pt", "candidate.path"),
    "weights_do_not_fit": (weights_do_not_fit, "candidate.safetensors", "candidate.factory"),
    "corrupt_safetensors": (corrupt_safetensors, "candidate.safetensors", "candidate.path"),
    "empty_suite": (empty_suite, "samples.csv", None),
    "label_outside_classes": (label_outside_classes, "samples.csv", "files.samples.csv"),
    "unfrozen_suite": (unfrozen_suite, "suite.yaml", "files"),
    "pickled_suite_array": (pickled_suite_array, "inputs.npy", "files.inputs.npy"),
    "code_refused": (code_refused, "modelgate.yaml", "candidate.allow_code"),
    "malformed_waivers": (malformed_waivers, "waivers.yaml:", "waivers.0"),
    "waiver_unknown_label": (waiver_unknown_label, "waivers.yaml:", "waivers.0.to"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_with_one_line(
    project: Project, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    breaker, file_part, key_part = CASES[name]
    breaker(project)
    capsys.readouterr()
    code = main(["check", "-c", str(project.config)])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("modelgate: error: ")
    assert file_part in lines[0]
    if key_part is not None:
        assert key_part in lines[0]
    assert "Traceback" not in err + out
    assert not (project.root / "reports").exists(), "no report after a failed run"
    assert "pwned" not in out + err


def test_debug_shows_traceback(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    missing_model(project)
    assert main(["--debug", "check", "-c", str(project.config)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_tampered_but_unchanged_length_is_still_caught(project: Project) -> None:
    path: Path = project.root / "suite" / "inputs.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert main(["check", "-c", str(project.config)]) == 2


def test_an_undecided_run_leaves_no_earlier_report_behind(project: Project) -> None:
    assert main(["check", "-c", str(project.config)]) == 0
    reports = project.root / "reports"
    written = sorted(p.name for p in reports.iterdir())
    assert written == ["modelgate-junit.xml", "modelgate-report.json", "modelgate-report.md"]
    (reports / "notes.txt").write_text("the user's own file")
    missing_model(project)
    assert main(["check", "-c", str(project.config)]) == 2
    # the passing verdict of the earlier run must not read as this run's; other files stay
    assert sorted(p.name for p in reports.iterdir()) == ["notes.txt"]
