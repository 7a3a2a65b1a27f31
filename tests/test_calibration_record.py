"""The calibration record: tied to its baseline, one row per control in the order it lists them,
and the same bytes whatever order the controls were given in."""

from __future__ import annotations

import json

from projects import Project

from modelgate.cli import main
from modelgate.digest import file_sha256

SHIFTS = [(0, 1, 0.2), (1, 2, -0.2), (2, 0, 0.3), (0, 1, 2.5)]  # the last regresses class 0


def test_record_is_independent_of_the_order_of_controls(project: Project) -> None:
    paths = project.add_controls(SHIFTS)
    record = project.root / "calib.json"
    assert main(["calibrate", "-c", str(project.config), "--control", *paths]) == 0
    forward = record.read_bytes()
    assert main(["calibrate", "-c", str(project.config), "--control", *reversed(paths)]) == 0
    assert record.read_bytes() == forward
    data = json.loads(forward)
    listed = [c["sha256"] for c in data["controls"]]
    assert listed == sorted(listed)
    # row i of the per-control statistics belongs to control i of the list
    shifted = listed.index(file_sha256(project.root / "control3.safetensors"))
    net = [row[0] for row in data["calibration"]["net_regressions"]]
    assert net.index(max(net)) == shifted
