"""The engine end to end, and its invariants (hypothesis)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projects import Project, linear_weights, save_weights

from modelgate.baseline import BaselineRecord
from modelgate.baseline_header import parse_header
from modelgate.cli import main
from modelgate.config import Config, Settings, load_config
from modelgate.engine.check import run_gate
from modelgate.engine.evaluate import NO_CALIBRATION, NO_INVERSION_FLOOR, evaluate
from modelgate.engine.inputs import Inputs
from modelgate.predict import Predictions
from modelgate.report import json as json_report
from modelgate.result import ModelInfo, Verdict
from modelgate.suite.format import InputSpec, Provenance, Suite, SuiteManifest
from modelgate.waivers import WaiverEntry, Waivers

TIMESTAMPS = ("started_at", "finished_at")


def _without_timestamps(text: str) -> dict[str, object]:
    data = json.loads(text)
    for key in TIMESTAMPS:
        data.pop(key, None)
    return data


def test_identical_candidate_passes(project: Project) -> None:
    result = run_gate(load_config(project.config))
    assert result.verdict is Verdict.PASSED
    assert result.metrics.negative_flips == 0 and not result.flips


def test_shifted_candidate_fails_naming_the_cell(project: Project) -> None:
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    result = run_gate(load_config(project.config))
    assert result.verdict is Verdict.FAILED
    destination = result.check("stats.destination")
    assert destination.status.value == "failed"
    assert "'cat'" in destination.findings[0].message and "'dog'" in destination.findings[0].message


def test_two_runs_give_identical_json_apart_from_timestamps(project: Project) -> None:
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.0)))
    texts = []
    for n in range(2):
        out = project.root / f"run{n}.json"
        assert (
            main(["check", "-q", "-c", str(project.config), "--no-reports", "--json", str(out)])
            == 1
        )
        texts.append(out.read_text())
    assert _without_timestamps(texts[0]) == _without_timestamps(texts[1])
    first, second = (t.splitlines() for t in texts)
    differing = [a for a, b in zip(first, second) if a != b]
    assert all(any(k in line for k in TIMESTAMPS) for line in differing)


def test_bless_refuses_a_failing_candidate_unless_forced(project: Project, capsys) -> None:  # type: ignore[no-untyped-def]
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 2.5)))
    before = (project.root / "baseline.json").read_text()
    assert main(["bless", "-c", str(project.config)]) == 2
    assert "not blessed" in capsys.readouterr().err
    assert (project.root / "baseline.json").read_text() == before
    assert main(["bless", "-c", str(project.config), "--force"]) == 2  # --reason is required
    assert main(["bless", "-c", str(project.config), "--force", "--reason", "relabel"]) == 0
    header = json.loads((project.root / "baseline.json").read_text())["header"]
    assert header["forced"] is True and header["reason"] == "relabel"
    assert main(["check", "-q", "-c", str(project.config), "--no-reports"]) == 0


def test_baseline_is_sorted_one_canary_per_line(project: Project) -> None:
    lines = (project.root / "baseline.json").read_text().splitlines()
    rows = [json.loads(line.rstrip(",")) for line in lines if line.startswith('    {"id"')]
    assert len(rows) == 240
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_waiver_explains_a_flip(project: Project) -> None:
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 1, 0.8)))
    result = run_gate(load_config(project.config))
    flipped = [f for f in result.flips if f.kind.value == "negative"]
    assert flipped
    target = flipped[0]
    assert (
        main(
            [
                "waive",
                target.id,
                "--to",
                target.candidate,
                "--reason",
                "reviewed",
                "--by",
                "alice",
                "-c",
                str(project.config),
            ]
        )
        == 0
    )
    again = run_gate(load_config(project.config))
    assert again.metrics.unexplained_flips == result.metrics.unexplained_flips - 1
    waived = next(f for f in again.flips if f.id == target.id)
    assert waived.waiver == "reviewed (alice)"
    assert [u.state for u in again.waivers] == ["used"]


def test_expired_and_unused_waivers_are_reported(project: Project) -> None:
    (project.root / "waivers.yaml").write_text(
        "version: 1\nwaivers:\n"
        "  - {canary: blobs-001, to: cat, reason: old, approved_by: bob, expires: 2020-01-01}\n"
        "  - {tag: protected, to: eel, reason: never used, approved_by: bob}\n"
    )
    result = run_gate(load_config(project.config))
    assert sorted(u.state for u in result.waivers) == ["expired", "unused"]
    assert result.check("waivers").status.value == "warned"


# --- invariants over synthetic predictions (no model, no files) -----------------------------

K = 4


def _inputs(
    labels: np.ndarray,
    base_logp: np.ndarray,
    tags: list[tuple[str, ...]],
    waivers: tuple[WaiverEntry, ...] = (),
    ids: list[str] | None = None,
) -> Inputs:
    n = len(labels)
    ids = ids or [f"c{i:04d}" for i in range(n)]
    manifest = SuiteManifest(
        name="synthetic",
        version=1,
        modality="tabular",
        classes=[str(c) for c in range(K)],
        input=InputSpec(shape=[1]),
        provenance=Provenance(curated_by="tests", source="hypothesis", created="2026-01-01"),
    )
    suite = Suite(
        path=Path("."),
        manifest=manifest,
        digest="d" * 64,
        ids=tuple(ids),
        labels=labels,
        tags=tuple(tags),
        inputs=np.zeros((n, 1), np.float32),
    )
    config = Config(
        path=Path("modelgate.yaml"),
        sha256="c" * 64,
        folder=Path("."),
        settings=Settings(version=1, suite="s", candidate="m.safetensors", baseline="b.json"),
    )
    base = Predictions(log_probs=base_logp, labels=base_logp.argmax(axis=1))
    header = parse_header({}, Path("b.json"))
    record = BaselineRecord(path=Path("b.json"), sha256="b" * 64, header=header, predictions=base)
    return Inputs(
        config=config,
        suite=suite,
        baseline=record,
        waivers=Waivers(entries=waivers, lines=(None,) * len(waivers), path=None),
    )


INFO = ModelInfo(path="m.safetensors", format="state_dict", sha256="m" * 64, carries_code=False)


def _logp(rng: np.random.Generator, n: int) -> np.ndarray:
    logits = rng.normal(0, 2, size=(n, K))
    return (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, ...]]]:
    n = draw(st.integers(min_value=8, max_value=80))
    seed = draw(st.integers(min_value=0, max_value=2**16))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, size=n)
    base = _logp(rng, n)
    base[np.arange(n), labels] += 3  # a mostly right baseline
    base -= np.log(np.exp(base).sum(axis=1, keepdims=True))
    noise = draw(st.floats(min_value=0.0, max_value=3.0))
    cand = base + rng.normal(0, noise, size=base.shape).astype(np.float32)
    cand = (cand - np.log(np.exp(cand).sum(axis=1, keepdims=True))).astype(np.float32)
    tags = [("protected",) if i % 7 == 0 else () for i in range(n)]
    return labels, base.astype(np.float32), cand, tags


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(scenarios())
def test_identical_predictions_give_no_flips(s) -> None:  # type: ignore[no-untyped-def]
    labels, base, _, tags = s
    result = evaluate(
        _inputs(labels, base, tags), Predictions(log_probs=base, labels=base.argmax(axis=1)), INFO
    )
    assert result.flips == ()
    assert result.metrics.unexplained_flips == 0
    assert result.verdict is Verdict.PASSED


@FAST
@given(scenarios(), st.randoms(use_true_random=False))
def test_permuting_canaries_changes_nothing(s, random) -> None:  # type: ignore[no-untyped-def]
    labels, base, cand, tags = s
    n = len(labels)
    order = list(range(n))
    random.shuffle(order)
    ids = [f"c{i:04d}" for i in range(n)]
    first = evaluate(
        _inputs(labels, base, tags, ids=ids),
        Predictions(log_probs=cand, labels=cand.argmax(axis=1)),
        INFO,
    )
    p = np.array(order)
    second = evaluate(
        _inputs(labels[p], base[p], [tags[i] for i in p], ids=[ids[i] for i in p]),
        Predictions(log_probs=cand[p], labels=cand[p].argmax(axis=1)),
        INFO,
    )
    a = _without_timestamps(json_report.render(first))
    b = _without_timestamps(json_report.render(second))
    for key in sorted(set(a) | set(b)):
        assert json.dumps(a.get(key), sort_keys=True) == json.dumps(b.get(key), sort_keys=True), key


@FAST
@given(scenarios(), st.data())
def test_a_waiver_never_turns_a_pass_into_a_fail(s, data) -> None:  # type: ignore[no-untyped-def]
    labels, base, cand, tags = s
    cand_pred = cand.argmax(axis=1)
    without = evaluate(
        _inputs(labels, base, tags), Predictions(log_probs=cand, labels=cand_pred), INFO
    )
    n = len(labels)
    picks = data.draw(st.lists(st.integers(0, n - 1), max_size=5, unique=True))
    waivers = tuple(
        WaiverEntry(
            canary=f"c{i:04d}",
            to=data.draw(st.sampled_from([str(c) for c in range(K)])),
            reason="r",
            approved_by="a",
            expires=data.draw(st.sampled_from([None, dt.date(2000, 1, 1)])),
        )
        for i in picks
    )
    with_waivers = evaluate(
        _inputs(labels, base, tags, waivers),
        Predictions(log_probs=cand, labels=cand_pred),
        INFO,
        today=dt.date(2026, 1, 1),
    )
    failed = {c.name for c in with_waivers.checks if c.status.value == "failed"}
    failed_before = {c.name for c in without.checks if c.status.value == "failed"}
    # Expired waivers may fail the `waivers` check by policy; nothing else may newly fail.
    assert failed - failed_before <= {"waivers"}
    assert with_waivers.metrics.unexplained_flips <= without.metrics.unexplained_flips


def test_calibrate_inverts_only_the_controls_the_invert_probe_asks_for(project: Project) -> None:
    text = project.config.read_text()
    project.config.write_text(text + "probes: [{kind: feature}, {kind: invert, controls: 0}]\n")
    assert main(["bless", "-c", str(project.config)]) == 0  # the same counts: no re-bless later
    controls = project.add_controls([(0, 1, 0.2), (1, 2, -0.2)])
    text = project.config.read_text().replace(
        "probes: [{kind: feature}, {kind: invert, controls: 0}]\n", ""
    )
    assert main(["calibrate", "-c", str(project.config), "--control", *controls]) == 0
    record = json.loads((project.root / "calib.json").read_text())
    assert record["calibration"]["inversion_controls"] == 0
    assert record["calibration"]["inversion_floor"] == []
    assert NO_INVERSION_FLOOR in run_gate(load_config(project.config)).notes
    project.config.write_text(text + "probes: [{kind: feature}, {kind: invert, controls: 1}]\n")
    assert main(["calibrate", "-c", str(project.config), "--control", *controls]) == 0
    again = json.loads((project.root / "calib.json").read_text())["calibration"]
    assert again["inversion_controls"] == 1 and len(again["inversion_floor"]) == 3
    assert NO_INVERSION_FLOOR not in run_gate(load_config(project.config)).notes


def test_a_control_changed_before_its_inversion_is_refused(
    project: Project,
    monkeypatch,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    """Each inverted control is loaded again after all were predicted: weights swapped in
    between would be inverted as if they were the model predicted."""
    import modelgate.engine.candidate as candidate

    controls = project.add_controls([(0, 1, 0.2), (1, 2, -0.2)])
    real, calls = candidate.load_model, []

    def swapping(config, suite):  # type: ignore[no-untyped-def]
        calls.append(config)
        if len(calls) == len(controls) + 1:  # the first load for an inversion
            for path in controls:
                save_weights(Path(path), linear_weights(shift=(2, 1, 0.4)))
        return real(config, suite)

    monkeypatch.setattr(candidate, "load_model", swapping)
    assert main(["calibrate", "-c", str(project.config), "--control", *controls]) == 2
    err = capsys.readouterr().err
    assert "changed while calibrate ran" in err and "--control" in err
    assert not (project.root / "calib.json").exists()


def test_calibrate_then_check_uses_it_and_refuses_a_stale_record(project: Project, capsys) -> None:  # type: ignore[no-untyped-def]
    assert NO_CALIBRATION in run_gate(load_config(project.config)).notes
    controls = project.add_controls([(0, 1, 0.2), (1, 2, -0.2), (2, 0, 0.3)])
    capsys.readouterr()
    assert main(["calibrate", "-c", str(project.config), "--control", *controls]) == 0
    assert "3 control retrain(s), 3 inverted for the trigger-size floor" in capsys.readouterr().out
    record = json.loads((project.root / "calib.json").read_text())
    assert record["calibration"]["n_controls"] == 3 and len(record["controls"]) == 3
    # paths relative to the config's folder, so the committed record reads the same anywhere
    assert sorted(c["path"] for c in record["controls"]) == [Path(c).name for c in controls]
    baseline = json.loads((project.root / "baseline.json").read_text())
    assert baseline["header"]["model"]["path"] == "candidate.safetensors"
    # the default tabular probes ran on every control: their highest attraction is recorded
    probe_max = record["calibration"]["probe_max"]
    assert probe_max
    assert all(len(row) == 3 and 0 <= min(row) <= max(row) <= 1 for row in probe_max.values())
    # ... and each control was inverted (3 of the default 4): a floor of trigger sizes per
    # class, never above the blessed model's own (it is one of the clean models)
    assert record["calibration"]["inversion_controls"] == 3
    floor = record["calibration"]["inversion_floor"]
    blessed = baseline["header"]["inversion"]["norms"]
    assert len(floor) == 3
    assert all(f is None or (b is not None and 0 < f <= b) for f, b in zip(floor, blessed))
    result = run_gate(load_config(project.config))
    assert "calibrated on control retrains" in result.check("stats.destination").summary
    assert NO_CALIBRATION not in result.notes
    assert NO_INVERSION_FLOOR not in result.notes
    save_weights(project.root / "candidate.safetensors", linear_weights(shift=(0, 2, 0.1)))
    assert main(["bless", "-c", str(project.config)]) == 0  # a new baseline ...
    capsys.readouterr()
    assert main(["check", "-c", str(project.config)]) == 2  # ... makes the record stale
    assert "calib.json" in capsys.readouterr().err
