"""Where the reports go, known even from a config that does not parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelgate.report.targets import guess_output


@pytest.mark.parametrize(
    "broken",
    ["policy:\n  alpha: !foo 0.01\n", "x: [\n", "? [a, b]\n: 1\n"],
)
def test_a_config_yaml_refuses_still_names_its_report_folder(tmp_path: Path, broken: str) -> None:
    config = tmp_path / "modelgate.yaml"
    config.write_text(
        "version: 1\noutput:\n  formats: [json]\n  dir: ../elsewhere  # ours\n" + broken
    )
    assert guess_output(config)[0] == tmp_path / "../elsewhere"
    config.write_text("output: {dir: 'flow dir', formats: [json]}\n" + broken)
    assert guess_output(config)[0] == tmp_path / "flow dir"
