"""The trust anchors: a forged baseline and a one-canary edit never pass, whatever else is set.

The matrix: {forged baseline (another model's predictions under the real header), one
prediction edited} x {with, without a calibration} x {with, without the ledger} x {the blessed
model file, a signature}: every cell exits 2 naming the baseline record, and no hint would
accept it. Then the honest flows (re-bless, calibrate, sign) still pass, and what the gate
cannot see without any anchor is pinned down too (the README says the same).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from forgery import edit_one_canary, forge_baseline, poison_candidate
from projects import Project, linear_weights, save_weights

from modelgate.cli import main

CONTROLS = [(0, 1, 0.1), (1, 2, 0.1), (2, 0, 0.1), (0, 2, 0.1)]


def _append(p: Project, text: str) -> None:
    p.config.write_text(p.config.read_text() + text)


def _with_blessed_model(p: Project) -> list[str]:
    (p.root / "blessed.safetensors").write_bytes((p.root / "candidate.safetensors").read_bytes())
    return ["blessed_model: blessed.safetensors"]


def _with_signature(p: Project) -> list[str]:
    from modelgate.signing import generate_keys

    private, public = generate_keys(p.root / "team")
    assert main(["sign", str(p.root / "baseline.json"), "--key", str(private)]) == 0
    if (p.root / "calib.json").exists():
        assert main(["sign", str(p.root / "calib.json"), "--key", str(private)]) == 0
    return [f"public_key: {public.name}"]


ANCHORS: dict[str, Callable[[Project], list[str]]] = {
    "blessed_model": _with_blessed_model,
    "signature": _with_signature,
}
ATTACKS: dict[str, Callable[[Project], object]] = {
    "forged_baseline": lambda p: (forge_baseline(p), poison_candidate(p)),
    "one_canary_edit": edit_one_canary,
}


@pytest.mark.parametrize("ledger", [True, False], ids=["ledger", "no_ledger"])
@pytest.mark.parametrize("calibrated", [True, False], ids=["calibration", "no_calibration"])
@pytest.mark.parametrize("anchor", sorted(ANCHORS))
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_tampered_baseline_is_refused_naming_the_record(
    project: Project,
    attack: str,
    anchor: str,
    calibrated: bool,
    ledger: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if calibrated:
        controls = project.add_controls(CONTROLS)
        assert main(["calibrate", "-c", str(project.config), "--control", *controls]) == 0
    settings = ANCHORS[anchor](project)
    if not ledger:
        settings.append("ledger: 'off'")
    _append(project, "trust: {" + ", ".join(settings) + "}\n")
    assert main(["check", "-c", str(project.config)]) == 0  # the anchors accept the real record
    ATTACKS[attack](project)
    capsys.readouterr()
    assert main(["check", "-c", str(project.config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "baseline.json" in err, err
    assert "calibrate" not in err, "no hint may suggest calibrating on a changed baseline"
    if not ledger:
        assert "trust.ledger" not in err
    assert not (project.root / "reports" / "modelgate-report.json").exists()


def test_without_any_anchor_a_forged_baseline_hides_the_poisoning(project: Project) -> None:
    """What the README says the gate cannot see: no ledger, signature or blessed model. (The
    probes are off: this forgery keeps the real header's probe numbers, which would still
    catch this model; a forger rewrites those too.)"""
    _append(project, "trust: {ledger: 'off'}\nprobes: 'off'\n")
    poison_candidate(project)
    assert main(["check", "-c", str(project.config), "-q"]) == 1  # the real record catches it
    forge_baseline(project)
    assert main(["check", "-c", str(project.config), "-q"]) == 0  # undetectable from the record


def test_without_any_anchor_a_calibration_blames_the_changed_baseline(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    controls = project.add_controls(CONTROLS)
    assert main(["calibrate", "-c", str(project.config), "--control", *controls]) == 0
    _append(project, "trust: {ledger: 'off'}\n")
    edit_one_canary(project)
    capsys.readouterr()
    assert main(["check", "-c", str(project.config)]) == 2
    err = capsys.readouterr().err
    assert "baseline.json: baseline: is not the baseline record calib.json was made for" in err
    assert "calibrate again" not in err and "re-run" not in err


def test_the_ledger_alone_catches_a_one_canary_edit(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_one_canary(project)
    assert main(["check", "-c", str(project.config)]) == 2
    assert "unknown to the run ledger" in capsys.readouterr().err


def test_rebless_calibrate_and_sign_flows_still_pass(project: Project) -> None:
    from modelgate.signing import generate_keys

    private, public = generate_keys(project.root / "team")
    controls = project.add_controls(CONTROLS)
    key = ["--sign-key", str(private)]
    assert main(["calibrate", "-c", str(project.config), "--control", *controls, *key]) == 0
    assert main(["sign", str(project.root / "baseline.json"), "--key", str(private)]) == 0
    _append(project, f"trust: {{public_key: {public.name}}}\npolicy: {{drift: {{mode: 'off'}}}}\n")
    assert main(["check", "-c", str(project.config), "-q"]) == 0
    # A new production model: bless (signed), calibrate (signed), check against it.
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 0.2)))
    assert main(["bless", "-c", str(project.config), "--force", "--reason", "new", *key]) == 0
    assert main(["check", "-c", str(project.config), "-q"]) == 2  # calibration is stale now
    assert main(["calibrate", "-c", str(project.config), "--control", *controls, *key]) == 0
    assert main(["check", "-c", str(project.config), "-q"]) == 0


def test_a_stale_calibration_after_a_vouched_rebless_says_calibrate_again(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    controls = project.add_controls(CONTROLS)
    assert main(["calibrate", "-c", str(project.config), "--control", *controls]) == 0
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 0.2)))
    assert main(["bless", "-c", str(project.config), "--force", "--reason", "new"]) == 0
    capsys.readouterr()
    assert main(["check", "-c", str(project.config)]) == 2  # the ledger vouches for the bless
    err = capsys.readouterr().err
    assert "calib.json" in err and "calibrate" in err


def test_calibrate_refuses_to_calibrate_on_a_tampered_baseline(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    controls = project.add_controls(CONTROLS)
    edit_one_canary(project)
    assert main(["calibrate", "-c", str(project.config), "--control", *controls]) == 2
    assert "baseline.json" in capsys.readouterr().err
    assert not (project.root / "calib.json").exists()


@pytest.mark.parametrize("repredict", ["all", "5"])
def test_repredict_all_or_a_sample_accepts_the_real_record(
    project: Project, repredict: str
) -> None:
    _with_blessed_model(project)
    _append(project, f"trust: {{blessed_model: blessed.safetensors, repredict: {repredict}}}\n")
    assert main(["check", "-c", str(project.config), "-q"]) == 0


def test_a_sample_always_includes_the_protected_canaries(project: Project) -> None:
    from modelgate.baseline import read_baseline
    from modelgate.suite.format import load_suite
    from modelgate.trust import sample_indices

    suite = load_suite(project.root / "suite")
    baseline = read_baseline(project.root / "baseline.json", suite)
    picked = sample_indices(suite, baseline, 5)
    assert {0, 1, 2} <= set(picked.tolist())  # the project tags canaries 0-2 protected
    assert len(picked) <= 8 and picked.tolist() == sorted(picked.tolist())
    assert (sample_indices(suite, baseline, 5) == picked).all()  # the same on every run


def test_a_signature_is_bound_to_the_kind_of_record(project: Project) -> None:
    """A signature made for a calibration record cannot stand in for the baseline record's."""
    import base64
    import hashlib

    from modelgate.errors import TrustError
    from modelgate.signing import (
        generate_keys,
        load_private_key,
        load_public_key,
        signed_message,
        verify_record,
    )

    private, public = generate_keys(project.root / "team")
    record = project.root / "baseline.json"
    raw = record.read_bytes()
    key = load_private_key(private.read_bytes(), str(private))
    wrong_kind = key.sign(signed_message("calibration", hashlib.sha256(raw).hexdigest()))
    signature = {"signature": base64.b64encode(wrong_kind).decode()}
    (project.root / "baseline.json.sig").write_text(json.dumps(signature))
    with pytest.raises(TrustError, match="does not match its signature"):
        verify_record(record, raw, "baseline", load_public_key(public, key="trust.public_key"))


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    assert b"PUBLIC KEY" in (tmp_path / "k.pub").read_bytes()


def test_sign_reads_the_key_from_the_environment(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelgate.signing import generate_keys

    private, public = generate_keys(project.root / "team")
    monkeypatch.setenv("MODELGATE_SIGNING_KEY", private.read_text())
    assert main(["sign", str(project.root / "baseline.json")]) == 0
    _append(project, f"trust: {{public_key: {public.name}}}\n")
    assert main(["check", "-c", str(project.config), "-q"]) == 0


def test_a_signed_record_blessed_elsewhere_is_learnt_by_the_ledger(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """A teammate blessed on another machine: this ledger never saw it, the signature vouches."""
    from modelgate.signing import generate_keys

    private, public = generate_keys(project.root / "team")
    elsewhere = project.write_config(
        project.config.read_text() + "history: {enabled: false}\n", name="elsewhere.yaml"
    )
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 0.2)))
    bless = ["bless", "-c", str(elsewhere), "--force", "--reason", "teammate"]
    assert main([*bless, "--sign-key", str(private)]) == 0
    assert main(["check", "-c", str(project.config), "-q"]) == 2  # unknown, and nothing vouches
    assert "unknown to the run ledger" in capsys.readouterr().err
    signed = project.write_config(
        project.config.read_text() + f"trust: {{public_key: {public.name}}}\n", name="signed.yaml"
    )
    drift_off = "policy: {drift: {mode: 'off'}}\n"
    signed.write_text(signed.read_text() + drift_off)
    assert main(["check", "-c", str(signed), "-q"]) == 0  # the signature vouches; the ledger learns
    project.config.write_text(project.config.read_text() + drift_off)
    assert main(["check", "-c", str(project.config), "-q"]) == 0  # now the ledger knows it
