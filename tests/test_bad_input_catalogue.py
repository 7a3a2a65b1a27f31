"""The bad-input catalogue: every file and flag an attacker or a careless user can get wrong.

Each case breaks one thing in a freshly blessed project and runs the real command. The gate must
answer exit 2 with one line that names the file (and the key where there is one), no
traceback, no workflow command or terminal escape in its output, no report of an earlier run
left at any path this run would write, and no payload executed.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from forgery import edit_one_canary, forge_baseline, poison_candidate
from projects import Project, linear_weights, save_weights

from modelgate.cli import main
from modelgate.digest import file_sha256

PWNED = "pwned.txt"  # a payload that runs writes this file next to the config
PAYLOAD = f"open(__file__.rsplit('/', 1)[0] + '/{PWNED}', 'w').write('ran')\n"
REPORTS = ("modelgate-report.json", "modelgate-junit.xml", "modelgate-report.md")
STALE_DIRS = ("reports", "modelgate-report")  # output.dir, and the default when it is unreadable
EXPLICIT = "explicit-report.json"


@dataclass(frozen=True)
class Case:
    breaker: Callable[[Project], list[str] | None]  # may return the command line to run
    file: str  # a part of the file name the message must name
    key: str | None  # a part of the key path (or option) the message must name
    exit_code: int = 2


def _append(p: Project, text: str) -> None:
    p.config.write_text(p.config.read_text() + textwrap.dedent(text).lstrip())


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new))


def _config(p: Project, old: str, new: str) -> None:
    _replace(p.config, old, new)


def _refreeze(p: Project) -> None:
    """Record the suite files' current digests, so a broken file reads as frozen, not tampered."""
    path = p.root / "suite" / "suite.yaml"
    manifest = yaml.safe_load(path.read_text())
    folder = p.root / "suite"
    manifest["files"] = {n: "sha256:" + file_sha256(folder / n) for n in manifest["files"]}
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))


def _manifest(p: Project, old: str, new: str) -> None:
    _replace(p.root / "suite" / "suite.yaml", old, new)


def _samples(p: Project, text: str) -> None:
    (p.root / "suite" / "samples.csv").write_text(text)
    _refreeze(p)


def _baseline_json(p: Project, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    path = p.root / "baseline.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _baseline_text(p: Project, text: str) -> None:
    (p.root / "baseline.json").write_text(text)


def _waivers(p: Project, text: str) -> None:
    (p.root / "waivers.yaml").write_text(textwrap.dedent(text).lstrip())


def _waiver(p: Project, **fields: str) -> None:
    entry = {"canary": "blobs-001", "to": "eel", "reason": "r", "approved_by": "alice"}
    entry.update(fields)
    lines = "".join(f"    {k}: {v}\n" for k, v in entry.items() if v != "")
    _waivers(p, "version: 1\nwaivers:\n  - " + lines.lstrip())


def _factory(p: Project, body: str) -> None:
    """A factory `bad_model.py:build_bad` whose module is `body` (a torch model); a new file,
    since this process already imported model.py when the project was blessed."""
    import torch

    (p.root / "bad_model.py").write_text("import torch\n" + textwrap.dedent(body))
    _config(p, "model.py:build", "bad_model.py:build_bad")
    save_weights(
        p.root / "candidate.safetensors",
        {"linear.weight": torch.eye(3, 4) * 3, "linear.bias": torch.zeros(3)},
    )


HANGING = """
class Hanging(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        {body}
        return self.linear(x)

def build_bad():
    return Hanging()
"""


def _hanging(p: Project, body: str) -> None:
    _factory(p, HANGING.replace("{body}", body))
    _append(p, "inference: {timeout_s: 0.5}\n")


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _deep(n: int = 3000) -> str:
    return "[" * n + "]" * n


def _keys(p: Project) -> Path:
    from modelgate.signing import generate_keys

    private, public = generate_keys(p.root / "team")
    _append(p, f"trust: {{public_key: {public.name}}}\n")
    return private


def _signed(p: Project) -> None:
    private = _keys(p)
    assert main(["sign", str(p.root / "baseline.json"), "--key", str(private)]) == 0


def _blessed_model(p: Project) -> None:
    (p.root / "blessed.safetensors").write_bytes((p.root / "candidate.safetensors").read_bytes())
    _append(p, "trust: {blessed_model: blessed.safetensors, ledger: 'off'}\n")


def _calibrated(p: Project) -> None:
    controls = p.add_controls([(0, 1, 0.1), (1, 2, 0.1), (2, 0, 0.1), (0, 2, 0.1)])
    assert main(["calibrate", "-c", str(p.config), "--control", *controls]) == 0


def _calibration_json(
    p: Project,
    change: Callable[[dict], None],
    part: str | None = "calibration",  # type: ignore[type-arg]
) -> None:
    """A calibrated project whose record (its `part`, or the whole) is edited (the ledger
    anchor off, so the parse is what refuses it)."""
    _calibrated(p)
    _append(p, "trust: {ledger: 'off'}\n")
    path = p.root / "calib.json"
    data = json.loads(path.read_text())
    change(data[part] if part else data)
    path.write_text(json.dumps(data))


def _suite_init(p: Project, inputs: np.ndarray | bytes, labels: str) -> list[str]:
    """`modelgate suite init` of these inputs (an array, or raw .npy bytes) and labels."""
    if isinstance(inputs, bytes):
        (p.root / "x.npy").write_bytes(inputs)
    else:
        np.save(p.root / "x.npy", inputs)
    (p.root / "l.txt").write_text(labels)
    return ["suite", "init", str(p.root / "new"), "--inputs", str(p.root / "x.npy"),
            "--labels", str(p.root / "l.txt"), "--modality", "tabular", "--name", "n",
            "--curated-by", "t", "--source", "s"]  # fmt: skip


def _suite_init_from(p: Project, name: str, content: bytes, modality: str) -> list[str]:
    """`modelgate suite init` of one .csv or .jsonl file of these bytes."""
    (p.root / name).write_bytes(content)
    return ["suite", "init", str(p.root / "new"), "--inputs", str(p.root / name), "--modality",
            modality, "--name", "n", "--curated-by", "t", "--source", "s"]  # fmt: skip


def _huge_npy() -> bytes:
    """A .npy header declaring 800 GB of float64, and 64 bytes of data."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(64)


def _ledger_sql(p: Project, sql: str) -> None:
    import sqlite3

    conn = sqlite3.connect(p.root / ".modelgate" / "history.sqlite")
    conn.executescript(sql)
    conn.close()


def _check(p: Project, *extra: str) -> list[str]:
    return ["check", "-c", str(p.config), "--json", str(p.root / EXPLICIT), *extra]


def _waive(p: Project, reason: str = "ticket 7", by: str = "alice") -> list[str]:
    return [
        "waive",
        "blobs-001",
        "--to",
        "eel",
        "--reason",
        reason,
        "--by",
        by,
        "-c",
        str(p.config),
    ]


def _symlink_loop(p: Project, name: str) -> None:
    os.symlink(p.root / f"{name}-b", p.root / f"{name}-a")
    os.symlink(p.root / f"{name}-a", p.root / f"{name}-b")


def _case_callable_without_allow_code(p: Project) -> None:
    (p.root / "evil.py").write_text(PAYLOAD + "def predict(batch):\n    return batch[:, :3]\n")
    _config(p, "  factory: model.py:build\n", "  callable: evil.py:predict\n")


def _case_factory_hangs(p: Project) -> None:
    _hanging(p, "pass")
    path = p.root / "bad_model.py"
    _replace(path, "def build_bad():\n", "def build_bad():\n    time.sleep(3600)\n")
    _replace(path, "import torch\n", "import time\nimport torch\n")


def _case_suite_loop(p: Project) -> None:
    _symlink_loop(p, "loop")
    _config(p, "suite: suite", "suite: loop-a")


def _case_samples_loop(p: Project) -> None:
    samples = p.root / "suite" / "samples.csv"
    samples.unlink()
    os.symlink(samples.parent / "x.csv", samples)
    os.symlink(samples, samples.parent / "x.csv")


def _case_dot_modelgate_file(p: Project) -> None:
    import shutil

    shutil.rmtree(p.root / ".modelgate")
    (p.root / ".modelgate").write_text("not a folder")


def _case_output_dir_file(p: Project) -> None:
    import shutil

    shutil.rmtree(p.root / "reports", ignore_errors=True)
    (p.root / "reports").write_text("a file where the report folder goes")


CASES: dict[str, Case] = {
    # --- the config: YAML itself ---------------------------------------------------------
    "config_alias_bomb": Case(lambda p: p.config.write_text(_bomb()), "modelgate.yaml", None),
    "config_recursive_alias": Case(
        lambda p: p.config.write_text("version: 1\nx: &a [*a]\n"), "modelgate.yaml", None
    ),
    "config_deep_nesting": Case(
        lambda p: _append(p, f"extra: {_deep()}\n"), "modelgate.yaml", None
    ),
    "config_deep_mapping": Case(
        lambda p: _append(p, "x: " + "{a: " * 200 + "1" + "}" * 200 + "\n"),
        "modelgate.yaml",
        None,
    ),
    "config_impossible_date": Case(
        lambda p: _config(p, "suite: suite", "suite: 2027-02-30"), "modelgate.yaml:2", None
    ),
    "config_huge_integer": Case(
        lambda p: _append(p, "inference: {batch_size: " + "9" * 5000 + "}\n"),
        "modelgate.yaml:",
        "integer too long",
    ),
    "config_nul_character": Case(
        lambda p: _append(p, "x: a\x00b\n"), "modelgate.yaml", "malformed YAML"
    ),
    "config_not_utf8": Case(
        lambda p: p.config.write_bytes(b"version: 1\nsuite: \xff\xfe\n"), "modelgate.yaml", None
    ),
    "config_empty": Case(lambda p: p.config.write_text(""), "modelgate.yaml", None),
    "config_a_list": Case(lambda p: p.config.write_text("- 1\n- 2\n"), "modelgate.yaml:1", None),
    "config_tab_indent": Case(
        lambda p: _append(p, "policy:\n\talpha: 0.1\n"), "modelgate.yaml", None
    ),
    "config_is_a_folder": Case(
        lambda p: ["check", "-c", str(p.root / "suite")], "modelgate.yaml", None
    ),
    "config_very_long_path": Case(
        lambda p: ["check", "-c", str(p.root / ("x" * 5000 + ".yaml"))], "xxxx", None
    ),
    "config_missing": Case(
        lambda p: ["check", "-c", str(p.root / "nowhere.yaml")], "nowhere.yaml", None
    ),
    "config_nested_duplicate_key": Case(
        lambda p: _append(p, "policy:\n  alpha: 0.1\n  alpha: 0.2\n"),
        "modelgate.yaml:",
        "policy.alpha",
    ),
    "config_escape_sequence_key": Case(
        lambda p: _append(p, '"\\e[31mred\\e[0m": 1\n'), "modelgate.yaml", "unknown key"
    ),
    "config_workflow_command_key": Case(
        lambda p: _append(p, '"::error::pwned": 1\n'), "modelgate.yaml", "unknown key"
    ),
    "config_workflow_command_v1_value": Case(
        lambda p: _config(p, "suite: suite", "suite: '##[error]pwned'"), "error]pwned", None
    ),
    # --- the config: YAML 1.1 words and types ----------------------------------------------
    "allow_code_no": Case(
        lambda p: _config(
            p, "  factory: model.py:build\n", "  factory: model.py:build\n  allow_code: no\n"
        ),
        "modelgate.yaml:6",
        "candidate.allow_code",
    ),
    "allow_code_yes": Case(
        lambda p: _config(
            p, "  factory: model.py:build\n", "  factory: model.py:build\n  allow_code: Yes\n"
        ),
        "modelgate.yaml:6",
        "quote it",
    ),
    "history_enabled_off": Case(
        lambda p: _append(p, "history: {enabled: off}\n"), "modelgate.yaml:", "history.enabled"
    ),
    "test_mode_off_unquoted": Case(
        lambda p: _append(p, "policy:\n  tests: {mcnemar: off}\n"),
        "modelgate.yaml:",
        'quote it ("off")',
    ),
    "test_mode_false": Case(
        lambda p: _append(p, "policy:\n  tests: {mcnemar: false}\n"),
        "modelgate.yaml:",
        "quote the word",
    ),
    "expired_waivers_no": Case(
        lambda p: _append(p, "policy:\n  expired_waivers: no\n"),
        "modelgate.yaml:",
        "policy.expired_waivers",
    ),
    "yaml11_word_as_key": Case(
        lambda p: _append(p, "policy:\n  tags:\n    on: {max_flips: 0}\n"),
        "modelgate.yaml:",
        "policy.tags.on",
    ),
    "universal_no_in_probe": Case(
        lambda p: _append(p, "probes:\n  - {kind: invert, universal: no}\n"),
        "modelgate.yaml:",
        "probes.0.universal",
    ),
    "version_string": Case(
        lambda p: _config(p, "version: 1", 'version: "1"'), "modelgate.yaml:1", "version"
    ),
    "version_2": Case(
        lambda p: _config(p, "version: 1", "version: 2"), "modelgate.yaml", "version"
    ),
    "candidate_without_path": Case(
        lambda p: _config(p, "  path: candidate.safetensors\n", ""), "modelgate.yaml", "candidate"
    ),
    "unknown_format": Case(
        lambda p: _config(p, "  factory:", "  format: pickle\n  factory:"),
        "modelgate.yaml",
        "candidate.format",
    ),
    "unknown_report_format": Case(
        lambda p: _config(p, "  dir: reports\n", "  dir: reports\n  formats: [pdf]\n"),
        "modelgate.yaml",
        "output.formats.0",
    ),
    "batch_size_zero": Case(
        lambda p: _append(p, "inference: {batch_size: 0}\n"), "modelgate.yaml", "batch_size"
    ),
    "timeout_negative": Case(
        lambda p: _append(p, "inference: {timeout_s: -1}\n"), "modelgate.yaml", "timeout_s"
    ),
    "probes_unknown_setting": Case(
        lambda p: _append(p, "probes: sometimes\n"), "modelgate.yaml", "probes"
    ),
    "trust_repredict_zero": Case(
        lambda p: _append(p, "trust: {blessed_model: candidate.safetensors, repredict: 0}\n"),
        "modelgate.yaml",
        "trust.repredict",
    ),
    "trust_ledger_unknown_mode": Case(
        lambda p: _append(p, "trust: {ledger: sometimes}\n"), "modelgate.yaml", "trust.ledger"
    ),
    "trust_unknown_key": Case(
        lambda p: _append(p, "trust: {public_keys: k.pub}\n"), "modelgate.yaml", "public_key"
    ),
    # --- report and ledger paths ---------------------------------------------------------------
    "output_dir_is_a_file": Case(_case_output_dir_file, "reports", "output.dir"),
    "explicit_json_under_a_file": Case(
        lambda p: ["check", "-c", str(p.config), "--json", str(p.config / "r.json")],
        "modelgate.yaml",
        "--json",
    ),
    "explicit_json_is_a_folder": Case(
        lambda p: ["check", "-c", str(p.config), "--json", str(p.root / "suite")],
        "suite",
        "--json",
    ),
    "dot_modelgate_is_a_file": Case(_case_dot_modelgate_file, ".modelgate", "history.path"),
    "ledger_path_is_a_folder": Case(
        lambda p: _append(p, "history: {path: suite}\n"), "suite", "history.path"
    ),
    "ledger_garbage": Case(
        lambda p: (p.root / ".modelgate" / "history.sqlite").write_bytes(b"garbage" * 100),
        "history.sqlite",
        "history.path",
    ),
    # --- the suite -------------------------------------------------------------------------------
    "suite_alias_bomb": Case(
        lambda p: (p.root / "suite" / "suite.yaml").write_text(_bomb()), "suite.yaml", None
    ),
    "suite_deep_nesting": Case(
        lambda p: (p.root / "suite" / "suite.yaml").write_text(f"x: {_deep()}\n"),
        "suite.yaml",
        None,
    ),
    "suite_impossible_date": Case(
        lambda p: _manifest(p, "created: '", "created: 2027-02-30\n  was: '"),
        "suite.yaml:",
        None,
    ),
    "suite_duplicate_classes": Case(
        lambda p: _manifest(p, "- eel", "- cat"), "suite.yaml", "classes"
    ),
    "suite_yaml11_class": Case(lambda p: _manifest(p, "- eel", "- no"), "suite.yaml:", "classes.2"),
    "suite_bad_dtype": Case(
        lambda p: _manifest(p, "dtype: float32", "dtype: object"), "suite.yaml", "input.dtype"
    ),
    "suite_symlink_loop": Case(_case_suite_loop, "loop-a", None),
    "suite_folder_is_a_file": Case(
        lambda p: (_config(p, "suite: suite", "suite: model.py"), None)[1], "model.py", None
    ),
    "samples_symlink_loop": Case(_case_samples_loop, "samples.csv", None),
    "samples_duplicate_id": Case(
        lambda p: _samples(p, "id,label\nblobs-000,cat\nblobs-000,dog\n"), "samples.csv:3", "id"
    ),
    "samples_no_label_column": Case(
        lambda p: _samples(p, "id,lbl\nblobs-000,cat\n"), "samples.csv:1", None
    ),
    "samples_nul_byte": Case(
        lambda p: _samples(p, "id,label\nblobs-000,c\x00at\n"), "samples.csv", None
    ),
    "samples_not_utf8": Case(
        lambda p: (
            (p.root / "suite" / "samples.csv").write_bytes(b"id,label\n\xff\xfe,cat\n"),
            _refreeze(p),
        )[1],
        "samples.csv",
        None,
    ),
    "inputs_wrong_dtype": Case(
        lambda p: (
            np.save(p.root / "suite" / "inputs.npy", np.zeros((240, 4), dtype=np.float64)),
            _refreeze(p),
        )[1],
        "inputs.npy",
        "input.dtype",
    ),
    "inputs_wrong_shape": Case(
        lambda p: (
            np.save(p.root / "suite" / "inputs.npy", np.zeros((240, 5), dtype=np.float32)),
            _refreeze(p),
        )[1],
        "inputs.npy",
        "input.shape",
    ),
    "inputs_truncated": Case(
        lambda p: (
            (p.root / "suite" / "inputs.npy").write_bytes(
                (p.root / "suite" / "inputs.npy").read_bytes()[:200]
            ),
            _refreeze(p),
        )[1],
        "inputs.npy",
        None,
    ),
    # --- the baseline record -----------------------------------------------------------------
    "baseline_deep_nesting": Case(lambda p: _baseline_text(p, _deep()), "baseline.json", None),
    "baseline_huge_integer": Case(
        lambda p: _baseline_text(p, '{"format": ' + "9" * 5000 + "}"), "baseline.json", None
    ),
    "baseline_logp_strings": Case(
        lambda p: _baseline_json(p, lambda d: d["canaries"][0].update(logp=["a", "b", "c"])),
        "baseline.json",
        "canaries.0.logp",
    ),
    "baseline_logp_booleans": Case(
        lambda p: _baseline_json(p, lambda d: d["canaries"][3].update(logp=[True, False, True])),
        "baseline.json",
        "canaries.3.logp",
    ),
    "baseline_logp_nan": Case(
        lambda p: _baseline_json(p, lambda d: d["canaries"][1].update(logp=[float("nan")] * 3)),
        "baseline.json",
        "canaries.1.logp",
    ),
    "baseline_logp_overflow": Case(
        lambda p: _replace(p.root / "baseline.json", '"logp": [', '"logp": [1e999, '),
        "baseline.json",
        "canaries",
    ),
    "baseline_duplicate_canary": Case(
        lambda p: _baseline_json(p, lambda d: d["canaries"][1].update(id=d["canaries"][0]["id"])),
        "baseline.json",
        "canaries.1.id",
    ),
    "baseline_unknown_canary": Case(
        lambda p: _baseline_json(p, lambda d: d["canaries"][5].update(id="nobody")),
        "baseline.json",
        "canaries.5.id",
    ),
    "baseline_pred_not_a_class": Case(
        lambda p: _baseline_json(p, lambda d: d["canaries"][2].update(pred=["cat"])),
        "baseline.json",
        "canaries.2.pred",
    ),
    "baseline_row_not_a_mapping": Case(
        lambda p: _baseline_json(p, lambda d: d["canaries"].__setitem__(7, 42)),
        "baseline.json",
        "canaries.7",
    ),
    "baseline_header_not_a_mapping": Case(
        lambda p: _baseline_json(p, lambda d: d.update(header=[1])), "baseline.json", "header"
    ),
    "baseline_header_model_list": Case(
        lambda p: _baseline_json(p, lambda d: d["header"].update(model=[1])),
        "baseline.json",
        "header.model",
    ),
    "baseline_header_probes_malformed": Case(
        lambda p: _baseline_json(p, lambda d: d["header"].update(probes={"eligible": "x"})),
        "baseline.json",
        "header.probes",
    ),
    "baseline_format_version": Case(
        lambda p: _baseline_json(p, lambda d: d.update(format_version=2)),
        "baseline.json",
        "format_version",
    ),
    "baseline_rows_not_a_list": Case(
        lambda p: _baseline_json(p, lambda d: d.update(canaries={"a": 1})),
        "baseline.json",
        "canaries",
    ),
    "baseline_is_a_folder": Case(
        lambda p: _config(p, "baseline: baseline.json", "baseline: suite"), "suite", "baseline"
    ),
    "baseline_not_utf8": Case(
        lambda p: (p.root / "baseline.json").write_bytes(b"\xff\xfe{}"), "baseline.json", None
    ),
    # --- trust anchors --------------------------------------------------------------------------
    "forged_baseline_vs_blessed_model": Case(
        lambda p: (_blessed_model(p), forge_baseline(p), poison_candidate(p))[-1],
        "baseline.json",
        "canaries",
    ),
    "one_canary_edit_vs_blessed_model": Case(
        lambda p: (_blessed_model(p), edit_one_canary(p))[-1], "baseline.json", "blobs-004"
    ),
    "blessed_model_is_another_model": Case(
        lambda p: (
            save_weights(p.root / "blessed.safetensors", linear_weights(shift=(1, 2, 0.5))),
            _append(p, "trust: {blessed_model: blessed.safetensors}\n"),
        )[-1],
        "baseline.json",
        "header.model.sha256",
    ),
    "blessed_model_missing": Case(
        lambda p: _append(p, "trust: {blessed_model: gone.safetensors}\n"),
        "gone.safetensors",
        "trust.blessed_model.path",
    ),
    "unsigned_baseline": Case(lambda p: (_keys(p), None)[1], "baseline.json", "trust.public_key"),
    "signed_then_edited": Case(
        lambda p: (_signed(p), edit_one_canary(p))[-1], "baseline.json", "trust.public_key"
    ),
    "signature_garbage": Case(
        lambda p: (_signed(p), (p.root / "baseline.json.sig").write_text("{]"))[-1],
        "baseline.json",
        "signature",
    ),
    "signature_of_a_gigabyte": Case(  # only its first bytes could be a signature document
        lambda p: (_signed(p), os.truncate(p.root / "baseline.json.sig", 2**30))[-1],
        "baseline.json",
        "signature",
    ),
    "calibrate_with_the_blessed_model_as_a_control": Case(
        lambda p: (
            _append(p, "calibration: calib.json\n"),
            ["calibrate", "-c", str(p.config), "--control", str(p.root / "candidate.safetensors")],
        )[-1],
        "candidate.safetensors",
        "--control",
    ),
    "calibrate_with_one_control_twice": Case(
        lambda p: (lambda made: ["calibrate", "-c", str(p.config), "--control", made[0], *made])(
            p.add_controls([(0, 1, 0.1), (1, 2, 0.1)])
        ),
        "control",
        "--control",
    ),
    "calibrate_with_a_control_of_no_known_format": Case(
        lambda p: (
            (p.root / "control.bin").write_bytes(b"weights?"),
            _append(p, "calibration: calib.json\n"),
            ["calibrate", "-c", str(p.config), "--control", str(p.root / "control.bin")],
        )[-1],
        "control.bin",
        "--control",
    ),
    "sign_a_fifo": Case(  # reading it would never end
        lambda p: (
            os.mkfifo(p.root / "r.json"),
            ["sign", str(p.root / "r.json"), "--key", str(_keys(p))],
        )[-1],
        "r.json",
        None,
    ),
    "public_key_is_a_fifo": Case(  # reading it would never end
        lambda p: (os.mkfifo(p.root / "k.pub"), _append(p, "trust: {public_key: k.pub}\n"))[-1],
        "k.pub",
        "trust.public_key",
    ),
    "public_key_missing": Case(
        lambda p: _append(p, "trust: {public_key: gone.pub}\n"), "gone.pub", "trust.public_key"
    ),
    "public_key_not_pem": Case(
        lambda p: (
            (p.root / "k.pub").write_text("hello"),
            _append(p, "trust: {public_key: k.pub}\n"),
        )[-1],
        "k.pub",
        "trust.public_key",
    ),
    "ledger_does_not_know_the_record": Case(
        lambda p: edit_one_canary(p), "baseline.json", "trust.ledger"
    ),
    "ledger_required_but_absent": Case(
        lambda p: _append(p, "history: {path: elsewhere.sqlite}\ntrust: {ledger: require}\n"),
        "baseline.json",
        "trust.ledger",
    ),
    "calibration_for_another_baseline": Case(
        lambda p: (
            _calibrated(p),
            _append(p, "trust: {ledger: 'off'}\n"),
            edit_one_canary(p),
        )[-1],
        "baseline.json",
        "baseline",
    ),
    "calibration_edited": Case(
        lambda p: (
            _calibrated(p),
            _replace(p.root / "calib.json", '"suite_digest": "', '"suite_digest": "0'),
        )[-1],
        "calib.json",
        None,
    ),
    "calibration_unknown_to_ledger": Case(
        lambda p: (
            _calibrated(p),
            _replace(
                p.root / "calib.json",
                "\n",
                "\n ",
            ),
        )[-1],
        "calib.json",
        "trust.ledger",
    ),
    "calibration_deep_nesting": Case(
        lambda p: (
            (p.root / "calib.json").write_text(_deep()),
            _append(p, "calibration: calib.json\n"),
        )[-1],
        "calib.json",
        None,
    ),
    # --- waivers ----------------------------------------------------------------------------------
    "waive_with_a_blank_reason": Case(lambda p: _waive(p, reason=" "), "", "--reason"),
    "waive_with_no_approver": Case(lambda p: _waive(p, by=""), "", "--by"),
    "waive_into_a_file_not_utf8": Case(
        lambda p: ((p.root / "waivers.yaml").write_bytes(b"version: 1\n# caf\xe9\n"), _waive(p))[
            -1
        ],
        "waivers.yaml",
        None,
    ),
    "waive_into_a_fifo": Case(  # reading it would never end
        lambda p: (
            (p.root / "waivers.yaml").unlink(),
            os.mkfifo(p.root / "waivers.yaml"),
            _waive(p),
        )[-1],
        "waivers.yaml",
        None,
    ),
    "waive_into_a_symlink_loop": Case(  # never written over
        lambda p: (
            (p.root / "waivers.yaml").unlink(),
            os.symlink(p.root / "waivers.yaml", p.root / "waivers.yaml"),
            _waive(p),
        )[-1],
        "waivers.yaml",
        None,
    ),
    "waivers_alias_bomb": Case(lambda p: _waivers(p, _bomb()), "waivers.yaml", None),
    "waivers_impossible_date": Case(
        lambda p: _waiver(p, expires="2027-02-30"), "waivers.yaml:7", None
    ),
    "waivers_quoted_date": Case(
        lambda p: _waiver(p, expires="'2027-01-31'"), "waivers.yaml:7", "unquoted"
    ),
    "waiver_for_unknown_canary": Case(
        lambda p: _waiver(p, canary="nobody"), "waivers.yaml:3", "waivers.0.canary"
    ),
    "waiver_to_yaml11_word": Case(lambda p: _waiver(p, to="no"), "waivers.yaml:4", "quote it"),
    "waivers_deep_nesting": Case(
        lambda p: _waivers(p, f"version: 1\nwaivers: {_deep()}\n"), "waivers.yaml", None
    ),
    "waivers_duplicate_key": Case(
        lambda p: _waivers(p, "version: 1\nversion: 1\nwaivers: []\n"), "waivers.yaml:2", "version"
    ),
    # --- models -----------------------------------------------------------------
    "model_sleeps_forever": Case(
        lambda p: _hanging(p, "import time; time.sleep(3600)"), "candidate", "inference.timeout_s"
    ),
    "model_loops_forever": Case(
        lambda p: _hanging(p, "while True: pass"), "candidate", "inference.timeout_s"
    ),
    "model_swallows_the_timeout": Case(
        lambda p: _hanging(
            p,
            "while True:\n            try:\n                time.sleep(3600)\n"
            "            except Exception:\n                pass",
        ),
        "candidate",
        "inference.timeout_s",
    ),
    "factory_hangs": Case(_case_factory_hangs, "candidate", "inference.timeout_s"),
    "model_calls_exit_0": Case(
        lambda p: _factory(p, HANGING.replace("{body}", "raise SystemExit(0)")),
        "candidate",
        "sys.exit",
    ),
    "model_raises_a_base_exception": Case(  # escaped every handler: exit 1 and a traceback
        lambda p: _factory(p, HANGING.replace("{body}", "raise BaseException('boom')")),
        "candidate",
        "BaseException",
    ),
    "model_detaches_its_scores": Case(  # autograd's RuntimeError inside the inversion: exit 3
        lambda p: _factory(p, HANGING.replace("{body}", "return self.linear(x).detach()")),
        "candidate",
        "probes.invert",
    ),
    "model_with_dropout_on": Case(  # its own churn was judged as the candidate's
        lambda p: _factory(
            p, HANGING.replace("{body}", "return torch.dropout(self.linear(x), 0.5, True)")
        ),
        "candidate",
        "not deterministic",
    ),
    "model_returns_a_string": Case(
        lambda p: _factory(p, HANGING.replace("{body}", "return 'cat'")), "candidate", "output"
    ),
    "callable_without_allow_code": Case(
        _case_callable_without_allow_code, "modelgate.yaml", "candidate.allow_code"
    ),
    "torchscript_without_allow_code": Case(
        lambda p: (
            (p.root / "candidate.ts").write_bytes(b"never read"),
            _config(p, "candidate.safetensors", "candidate.ts"),
        )[-1],
        "modelgate.yaml",
        "candidate.allow_code",
    ),
    "candidate_override_missing": Case(
        lambda p: _check(p, "--candidate", str(p.root / "gone.safetensors")),
        "gone.safetensors",
        "candidate.path",
    ),
    "candidate_path_blank": Case(  # resolved to the config's own folder
        lambda p: _config(p, "candidate.safetensors", "' '"), "modelgate.yaml", "candidate.path"
    ),
    "calibration_of_another_suite": Case(  # accepted: only the baseline digest was checked
        lambda p: _calibration_json(p, lambda d: d.update(suite_digest="0" * 64), part=None),
        "calib.json",
        "suite_digest",
    ),
    "calibration_blank": Case(  # silently ran uncalibrated, with weaker tests
        lambda p: _append(p, "calibration: ''\n"), "modelgate.yaml", "calibration"
    ),
    "output_dir_blank": Case(  # wrote the reports into the config's folder
        lambda p: _config(p, "dir: reports", "dir: ' '"), "modelgate.yaml", "output.dir"
    ),
    # --- other commands --------------------------------------------------------------------------
    "waive_blank_expiry": Case(  # read as "never expires"
        lambda p: [*_waive(p), "--expires", ""], "", "--expires"
    ),
    "keygen_out_a_folder": Case(  # wrote DIR.key beside the folder
        lambda p: ["keygen", "--out", f"{p.root}/"], "", "--out"
    ),
    "keygen_out_blank": Case(lambda p: ["keygen", "--out", ""], "", "--out"),  # hidden .key, .pub
    "keygen_force_onto_a_fifo": Case(  # the private key was written into the FIFO: a hang
        lambda p: (
            os.mkfifo(p.root / "k.key"),
            ["keygen", "--out", str(p.root / "k"), "--force"],
        )[-1],
        "k.key",
        None,
    ),
    "init_blank_candidate": Case(  # a config naming '' as the candidate
        lambda p: ["init", "--dir", str(p.root / "new"), "--candidate", ""], "", "--candidate"
    ),
    "waive_impossible_date": Case(
        lambda p: [
            "waive",
            "blobs-001",
            "--to",
            "eel",
            "--reason",
            "r",
            "--by",
            "a",
            "--expires",
            "2027-02-30",
            "-c",
            str(p.config),
        ],
        "2027-02-30",
        "--expires",
    ),
    "waive_unknown_canary": Case(
        lambda p: [
            "waive",
            "nobody",
            "--to",
            "eel",
            "--reason",
            "r",
            "--by",
            "a",
            "-c",
            str(p.config),
        ],
        "nobody",
        "canary",
    ),
    "waive_unknown_label": Case(
        lambda p: [
            "waive",
            "blobs-001",
            "--to",
            "wolf",
            "--reason",
            "r",
            "--by",
            "a",
            "-c",
            str(p.config),
        ],
        "wolf",
        "--to",
    ),
    "suite_init_pickled_npy": Case(
        lambda p: (
            np.save(p.root / "x.npy", np.array([object()] * 3), allow_pickle=True),
            (p.root / "l.txt").write_text("a\nb\nc\n"),
            [
                "suite",
                "init",
                str(p.root / "new"),
                "--inputs",
                str(p.root / "x.npy"),
                "--labels",
                str(p.root / "l.txt"),
                "--modality",
                "tabular",
                "--name",
                "n",
                "--curated-by",
                "t",
                "--source",
                "s",
            ],
        )[-1],
        "x.npy",
        None,
    ),
    "sign_not_a_record": Case(
        lambda p: (_keys(p), ["sign", str(p.config), "--key", str(p.root / "team.key")])[-1],
        "modelgate.yaml",
        None,
    ),
    "sign_with_a_bad_key": Case(
        lambda p: ["sign", str(p.root / "baseline.json"), "--key", str(p.config)],
        "modelgate.yaml",
        None,
    ),
    "keygen_refuses_to_overwrite": Case(
        lambda p: (_keys(p), ["keygen", "--out", str(p.root / "team")])[-1], "team.key", None
    ),
    # --- numbers and files beyond what a reader can hold (session 12's hunt) ----------------
    "baseline_probe_count_beyond_int64": Case(
        lambda p: _baseline_json(p, lambda d: d["header"]["probes"].update(eligible=[10**30] * 3)),
        "baseline.json",
        "header.probes",
    ),
    "baseline_probe_count_negative": Case(
        lambda p: _baseline_json(p, lambda d: d["header"]["probes"].update(eligible=[-5] * 3)),
        "baseline.json",
        "header.probes",
    ),
    "baseline_inversion_held_out_negative": Case(
        lambda p: _baseline_json(p, lambda d: d["header"]["inversion"].update(held_out=[-5] * 3)),
        "baseline.json",
        "header.inversion",
    ),
    "calibration_infinite_controls": Case(
        lambda p: _calibration_json(p, lambda c: c.update(n_controls=float("inf"))),
        "calib.json",
        None,
    ),
    "calibration_negative_shift_df": Case(
        lambda p: _calibration_json(p, lambda c: c["shift_null"].update(df=-3)),
        "calib.json",
        "shift_null.df",
    ),
    "calibration_nan_shift_mean": Case(
        lambda p: _calibration_json(p, lambda c: c["shift_null"]["mean"][0].__setitem__(1, None)),
        "calib.json",
        None,
    ),
    "calibration_short_net_regressions": Case(
        lambda p: _calibration_json(p, lambda c: c.update(net_regressions=[[1, 2]] * 4)),
        "calib.json",
        "net_regressions",
    ),
    "calibration_inversion_floor_of_text": Case(
        lambda p: _calibration_json(p, lambda c: c["inversion_floor"].__setitem__(0, "0.5")),
        "calib.json",
        None,
    ),
    "calibration_inversion_floor_negative": Case(
        lambda p: _calibration_json(p, lambda c: c["inversion_floor"].__setitem__(0, -1.0)),
        "calib.json",
        "inversion_floor",
    ),
    "calibration_inversion_floor_without_controls": Case(
        lambda p: _calibration_json(p, lambda c: c.update(inversion_controls=0)),
        "calib.json",
        "inversion_controls",
    ),
    "candidate_symlink_loop": Case(
        lambda p: (
            os.symlink("loop.safetensors", p.root / "loop.safetensors"),
            _check(p, "--candidate", str(p.root / "loop.safetensors")),
        )[-1],
        "loop.safetensors",
        "candidate",
    ),
    "inference_threads_beyond_any_machine": Case(
        lambda p: _append(p, "inference: {threads: 100000000000000000000}\n"),
        "modelgate.yaml",
        "inference.threads",
    ),
    "suite_version_beyond_the_ledger": Case(
        lambda p: (_manifest(p, "version: 1", "version: " + "9" * 30), _refreeze(p))[-1],
        "suite.yaml",
        "version",
    ),
    "ledger_with_a_trigger": Case(
        lambda p: _ledger_sql(p, "CREATE TRIGGER t AFTER INSERT ON runs BEGIN SELECT 1; END;"),
        "history.sqlite",
        "history.path",
    ),
    "ledger_tag_of_no_canary": Case(
        lambda p: (
            _ledger_sql(p, "INSERT INTO canary_tags SELECT digest, 'protected', 99999 FROM suites"),
            ["history", "-c", str(p.config), "--tag", "protected"],
        )[-1],
        "history.sqlite",
        "history.path",
    ),
    "ledger_prediction_beyond_the_classes": Case(  # IndexError in the timeline: exit 3
        lambda p: (
            _ledger_sql(
                p,
                "UPDATE predictions SET pred = 99 WHERE canary_idx = "
                "(SELECT canary_idx FROM canaries WHERE canary_id = 'blobs-001')",
            ),
            ["history", "-c", str(p.config), "--canary", "blobs-001"],
        )[-1],
        "history.sqlite",
        "history.path",
    ),
    "ledger_negative_label": Case(  # read as the last class: invented flips, exit 0
        lambda p: (
            _ledger_sql(p, "UPDATE canaries SET label = -1 WHERE canary_id = 'blobs-001'"),
            ["history", "-c", str(p.config), "--canary", "blobs-001"],
        )[-1],
        "history.sqlite",
        "history.path",
    ),
    "waivers_a_fifo": Case(
        lambda p: ((p.root / "waivers.yaml").unlink(), os.mkfifo(p.root / "waivers.yaml"))[-1],
        "waivers.yaml",
        None,
    ),
    "waivers_endless": Case(
        lambda p: _config(p, "waivers: waivers.yaml", "waivers: /dev/zero"), "/dev/zero", None
    ),
    "suite_init_one_class": Case(  # the classes come from the labels file: it is named
        lambda p: _suite_init(p, np.zeros((3, 2), np.float32), "a\na\na\n"), "l.txt", None
    ),
    "suite_init_duplicate_classes": Case(  # was named as the generated suite.yaml, left behind
        lambda p: [*_suite_init(p, np.zeros((2, 2), np.float32), "a\nb\n"), "--classes", "a,b,a"],
        "--classes",
        None,
    ),
    "suite_init_blank_class": Case(  # "a,b," made a class named ''
        lambda p: [*_suite_init(p, np.zeros((2, 2), np.float32), "a\nb\n"), "--classes", "a,b,"],
        "--classes",
        None,
    ),
    "suite_init_label_outside_the_classes": Case(
        lambda p: [
            *_suite_init_from(p, "in.csv", b"f,label\n1,x\n2,y\n", "tabular"),
            "--classes",
            "x,z",
        ],
        "in.csv",
        "label",
    ),
    "suite_init_nul_in_a_label": Case(  # accepted as part of a class name
        lambda p: _suite_init_from(p, "in.csv", b"f,label\n1,x\x00\n2,y\n", "tabular"),
        "in.csv",
        "label",
    ),
    "suite_init_blank_name": Case(
        lambda p: [*_suite_init(p, np.zeros((2, 2), np.float32), "a\nb\n"), "--name", " "],
        "--name",
        None,
    ),
    "suite_init_single_value": Case(
        lambda p: _suite_init(p, np.float32(3.0), "a\n"), "x.npy", None
    ),
    "suite_inputs_outside_its_folder": Case(  # read whatever file the manifest named
        lambda p: _replace(
            p.root / "suite" / "suite.yaml", "inputs: inputs.npy", "inputs: ../x.npy"
        ),
        "suite.yaml",
        "inputs",
    ),
    "suite_freeze_of_a_fifo": Case(  # freeze reads the files before any digest: it never ended
        lambda p: (
            (p.root / "suite" / "samples.csv").unlink(),
            os.mkfifo(p.root / "suite" / "samples.csv"),
            ["suite", "freeze", str(p.root / "suite")],
        )[-1],
        "samples.csv",
        None,
    ),
    "suite_init_csv_not_utf8": Case(
        lambda p: _suite_init_from(p, "in.csv", b"a,label\n1,x\n2,y\n\xff\xfe", "tabular"),
        "in.csv",
        None,
    ),
    "suite_init_csv_field_beyond_the_limit": Case(
        lambda p: _suite_init_from(p, "in.csv", b"a,label\n1," + b"x" * 200_000 + b"\n", "tabular"),
        "in.csv",
        None,
    ),
    "suite_init_csv_row_without_a_label": Case(
        lambda p: _suite_init_from(p, "in.csv", b"a,label\n1,x\n2\n3,y\n", "tabular"),
        "in.csv:3",
        "label",
    ),
    "suite_init_jsonl_tags_not_a_list": Case(
        lambda p: _suite_init_from(
            p, "in.jsonl", b'{"text": "hi", "label": "a", "tags": 5}\n', "text"
        ),
        "in.jsonl:1",
        "tags",
    ),
    "suite_init_jsonl_tags_of_numbers": Case(
        lambda p: _suite_init_from(
            p, "in.jsonl", b'{"text": "hi", "label": "a", "tags": [1, 2]}\n', "text"
        ),
        "in.jsonl:1",
        "tags",
    ),
    "suite_init_jsonl_not_utf8": Case(
        lambda p: _suite_init_from(p, "in.jsonl", b'{"text": "h\xffo", "label": "b"}\n', "text"),
        "in.jsonl",
        None,
    ),
    "suite_init_header_declares_800_gb": Case(
        lambda p: _suite_init(p, _huge_npy(), "a\nb\n"), "x.npy", None
    ),
    "report_path_is_a_fifo": Case(  # a report written there would replace it (or a device)
        lambda p: (os.mkfifo(p.root / "pipe.md"), _check(p, "--markdown", str(p.root / "pipe.md")))[
            -1
        ],
        "pipe.md",
        "--markdown",
    ),
    "report_path_cannot_be_created": Case(  # the write fails on a hidden file beside it
        lambda p: _check(p, "--markdown", "/proc/modelgate-report.md"),
        "/proc/modelgate-report.md",
        "--markdown",
    ),
    "history_without_ledger": Case(
        lambda p: (
            _append(p, "history: {path: none.sqlite}\n"),
            ["history", "-c", str(p.config)],
        )[-1],
        "none.sqlite",
        "history.path",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_in_one_line(
    project: Project, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    given = case.breaker(project)
    argv = given if isinstance(given, list) else _check(project)
    planted = [project.root / d / r for d in STALE_DIRS for r in REPORTS]
    for path in [*planted, project.root / EXPLICIT]:
        if path.parent.is_dir() or not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("an earlier run's verdict")
    # Where this run writes: output.dir as far as the config parses, and an explicit --json.
    would_write = [_out_dir(argv) / r for r in REPORTS]
    if "--json" in argv:
        would_write.append(Path(argv[argv.index("--json") + 1]))
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == case.exit_code, (out, err)
    assert len(lines) == 1 and lines[0].startswith("modelgate: error: "), err
    assert case.file in lines[0], lines[0]
    if case.key is not None:
        assert case.key in lines[0], lines[0]
    assert "Traceback" not in out + err
    for hostile in ("\x1b", "::error", "##[", "\r"):
        assert hostile not in out + err, (hostile, out + err)
    if argv[0] == "check":
        left = [str(p) for p in would_write if p.is_file()]
        assert not left, f"an earlier report survived an undecided run: {left}"
    assert not (project.root / PWNED).exists(), "a payload ran"


def _out_dir(argv: list[str]) -> Path:
    from modelgate.report.targets import guess_output

    return guess_output(argv[argv.index("-c") + 1])[0] if "-c" in argv else Path("nowhere")


def test_the_catalogue_covers_at_least_eighty_cases() -> None:
    assert len(CASES) >= 80
