"""Count budgets: the same verdict on a fast runner and a slow one, and records made with other
counts refused before any model runs."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from probe_fixtures import image_project

from modelgate.config import load_config
from modelgate.engine.bless import bless
from modelgate.engine.check import run_gate
from modelgate.errors import EXIT_UNDECIDED, BaselineError, ConfigError, TimeLimitError
from modelgate.probe_settings import ProbeSettings, plan
from modelgate.report import json as json_report
from modelgate.report import junit, markdown

SLOW = """

import time as _time

class _Slow(Templates):
    def forward(self, x):
        _time.sleep(0.001)
        return super().forward(x)

def build():
    return _Slow(False)
"""


def _reports(config: Path) -> tuple[str, str, str]:
    """JSON, Markdown and JUnit of one check, the timestamps (and so JUnit's duration) blanked."""
    result = run_gate(load_config(config))
    stamped = dataclasses.replace(result, started_at="", finished_at="")
    return json_report.render(stamped), markdown.render(stamped), junit.render(stamped)


def _racing_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reading of the clock is 1000 s after the last: the slowest runner there is."""
    ticks = iter(range(0, 10**12, 1000))
    monkeypatch.setattr(time, "monotonic", lambda: float(next(ticks)))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(ticks)))


def test_a_slow_model_and_a_racing_clock_give_byte_identical_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = image_project(tmp_path)
    bless(load_config(config))
    header = json.loads((tmp_path / "baseline.json").read_text())["header"]
    assert header["inversion"]["budget"] == {
        "batch": 64,
        "canaries": 2000,
        "classes": "all",
        "steps": 120,
        "universal_steps": 30,
    }
    assert header["probes"]["budget"] == {"canaries": 4000}
    assert "complete" not in header["inversion"]
    first = _reports(config)
    assert first == _reports(config)  # two runs: identical apart from the timestamps
    model = tmp_path / "model.py"
    model.write_text(model.read_text() + SLOW)  # same weights, same config, a slower model
    slow = _reports(config)
    _racing_clock(monkeypatch)
    raced = _reports(config)
    assert first == slow == raced
    assert '"status": "passed"' in first[0] and "3 of 3 classes searched" in first[0]


def test_the_time_limit_aborts_as_undecided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = image_project(tmp_path)
    bless(load_config(config))
    config.write_text(config.read_text().replace("steps: 120}", "steps: 120, budget_s: 60}"))
    assert run_gate(load_config(config)).exit_code == 0  # a limit the search stays within
    _racing_clock(monkeypatch)
    with pytest.raises(TimeLimitError) as info:
        run_gate(load_config(config))
    assert info.value.exit_code == EXIT_UNDECIDED
    assert "nothing decided" in info.value.message and "raise budget_s" in (info.value.hint or "")


def test_a_record_made_with_other_counts_is_refused_and_a_forced_bless_replaces_it(
    tmp_path: Path,
) -> None:
    config = image_project(tmp_path)
    bless(load_config(config))
    config.write_text(config.read_text().replace("steps: 120}", "steps: 150}"))
    with pytest.raises(BaselineError) as info:
        run_gate(load_config(config))
    assert info.value.key == "header.inversion.budget"
    assert "steps 120" in info.value.message and "steps 150" in info.value.message
    with pytest.raises(BaselineError) as info:
        bless(load_config(config))
    assert "--force" in (info.value.hint or "")
    outcome = bless(load_config(config), force=True, reason="more search steps")
    assert outcome.previous is not None
    assert any("other counts" in n for n in outcome.previous.notes)
    header = json.loads((tmp_path / "baseline.json").read_text())["header"]
    assert header["inversion"]["budget"]["steps"] == 150 and header["forced"] is True
    assert run_gate(load_config(config)).exit_code == 0


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda h: h["probes"].update(budget={"canaries": 100}), "header.probes.budget"),
        (lambda h: h["inversion"].pop("budget"), "header.inversion.budget"),
        # same counts in another layout: named as the format, not as two equal budgets
        (lambda h: h["inversion"].update(format=1), "header.inversion.format"),
        (lambda h: h["probes"].update(format=9), "header.probes.format"),
    ],
)
def test_records_from_other_or_older_budgets_are_refused(tmp_path: Path, edit, key: str) -> None:  # type: ignore[no-untyped-def]
    config = image_project(tmp_path)
    bless(load_config(config))
    record = tmp_path / "baseline.json"
    data = json.loads(record.read_text())
    edit(data["header"])
    record.write_text(json.dumps(data))
    with pytest.raises(BaselineError) as info:
        run_gate(load_config(config))
    assert info.value.key == key and "bless" in (info.value.hint or "")


def test_the_mapping_form_sets_the_probe_budget(tmp_path: Path) -> None:
    head = "version: 1\nsuite: s\ncandidate: m.pt2\nbaseline: b.json\n"
    path = tmp_path / "modelgate.yaml"
    path.write_text(
        head + "probes:\n  use: [patch, {kind: invert, steps: 50, canaries: 300, classes: 4}]\n"
        "  canaries: 500\n  batch_mb: 8\n"
    )
    setting = load_config(path).settings.probes
    assert isinstance(setting, ProbeSettings)
    probe_plan = plan(setting, "image")
    assert probe_plan.canaries == 500 and probe_plan.batch_bytes == 8 * 2**20
    assert probe_plan.invert is not None and probe_plan.invert.budget() == {
        "batch": 64,
        "canaries": 300,
        "classes": 4,
        "steps": 50,
        "universal_steps": 12,
    }
    assert plan(ProbeSettings(use="off"), "image").probes == ()
    for bad, words in [
        ("probes:\n  canaries: 5\n", "canaries"),
        ("probes:\n  canary: 500\n", "did you mean 'canaries'"),
        ("probes:\n  use: {use: default}\n", "use"),
    ]:
        path.write_text(head + bad)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert info.value.key == "probes" and words in info.value.message
