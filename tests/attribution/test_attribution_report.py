"""The quarantine files and the Markdown section: untrusted names stay inert, spreadsheets run no
formula, image training data gets a contact sheet."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from pngs import read_png

from modelgate.attribution.manifest import load_training_data, write_training_data
from modelgate.attribution.quarantine import attribution_json, quarantine_csv, write_quarantine
from modelgate.attribution.result import (
    AttributionReport,
    Behaviour,
    Budget,
    FindingAttribution,
    RowScore,
    SourceStat,
)
from modelgate.attribution.sheets import contact_sheets
from modelgate.report.attribution import markdown_section

HOSTILE = "<img src=x onerror=alert(1)> [click](https://evil.example) @org/team"


def _report(source: str = HOSTILE, row_id: str = "=HYPERLINK(1)") -> AttributionReport:
    behaviour = Behaviour("stats.destination", "the 2 flipped canaries", ("c1", "c2"),
                          np.zeros((2, 1)), np.array([1, 1]))  # fmt: skip
    rows = (
        RowScore(1, row_id, "1", source, 0.6, 1),
        RowScore(2, "r0", "1", "bob", 0.1, 0),
    )
    sources = (
        SourceStat(source, 3, 0.3, 0.8, 0.001, 0.002, True),
        SourceStat("bob", 7, 0.7, 0.2, 0.9, 1.0, False),
    )
    finding = FindingAttribution(behaviour, rows, sources, np.array([0.1, 0.6]))
    return AttributionReport(
        manifest="train", manifest_digest="ab" * 32, model_sha256="cd" * 32, alpha=0.01,
        budget=Budget(10, 10, 64, 999), findings=(finding,),
    )  # fmt: skip


def test_markdown_is_inert_and_says_what_drove_it() -> None:
    text = markdown_section(_report())
    assert text.startswith("## Which training data drove it")
    assert "<img" not in text.replace("\\<", "") and "](https://" not in text and "@org" not in text
    assert "carry 80% of the influence on the 2 flipped canaries, against 30% of the rows" in text
    assert "**flagged**" in text and "10 of 10 rows scored" in text


def test_csv_guards_formulas_and_json_round_trips(tmp_path: Path) -> None:
    report = _report()
    rows = list(csv.DictReader(io.StringIO(quarantine_csv(report))))
    assert rows[0]["id"] == "'=HYPERLINK(1)" and rows[0]["source_flagged"] == "true"
    assert rows[1]["source_flagged"] == "false"
    data = json.loads(attribution_json(report))
    assert data["flagged_sources"] == [HOSTILE]
    assert data["quarantine"] == [{"id": "=HYPERLINK(1)", "label": "1", "source": HOSTILE}]
    written = write_quarantine(report, tmp_path / "out")
    assert written["csv"].read_text() == quarantine_csv(report)
    assert written["json"].read_text() == attribution_json(report)


def test_image_training_data_gets_a_contact_sheet(tmp_path: Path) -> None:
    x = np.random.default_rng(0).uniform(0, 1, (4, 1, 8, 8)).astype(np.float32)
    folder = write_training_data(
        tmp_path / "train", name="t", modality="image", inputs=x, labels=["0", "1", "0", "1"],
        sources=["a", "b", "a", "b"], classes=["0", "1"],
    )  # fmt: skip
    data = load_training_data(folder, ("0", "1"))
    sheets = contact_sheets(_report(), data, tmp_path / "out")
    assert sheets == {1: "attribution-finding-1.png"}
    picture = read_png((tmp_path / "out" / sheets[1]).read_bytes())
    assert picture.shape == (48, 2 * 48 + 4, 3)
    assert "![top rows of finding 1](attribution-finding-1.png)" in markdown_section(
        _report(), sheets
    )


def test_csv_shows_control_characters_as_escapes() -> None:
    """A terminal escape in a source name must not reach whoever `cat`s the list."""
    text = quarantine_csv(_report(source="ev\x1b[31mil\u202e", row_id="+\x07"))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["source"] == "ev\\u001b[31mil\\u202e" and rows[0]["id"] == "'+\\u0007"
