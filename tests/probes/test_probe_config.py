"""The `probes:` key and `policy.triggers`: shorthands, lists, YAML traps and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from probe_fixtures import make_suite

from modelgate.config import json_schema, load_config
from modelgate.errors import ConfigError
from modelgate.probe_settings import (
    BlendProbe,
    FeatureProbe,
    InvertProbe,
    PatchProbe,
    TokenProbe,
    plan,
)
from modelgate.probes.library import build_probes

HEAD = "version: 1\nsuite: s\ncandidate: m.pt2\nbaseline: b.json\n"


def _config(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "modelgate.yaml"
    path.write_text(HEAD + text)
    return load_config(path)


def test_default_picks_the_suites_modality_and_inversion(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    assert config.settings.probes == "default"
    image = plan(config.settings.probes, "image")
    assert [type(s) for s in image.probes] == [PatchProbe, BlendProbe]
    assert isinstance(image.invert, InvertProbe)
    assert [type(s) for s in plan("default", "text").probes] == [TokenProbe]
    assert [type(s) for s in plan("default", "tabular").probes] == [FeatureProbe]


@pytest.mark.parametrize("value", ["off", "false", "no"])
def test_off_even_when_yaml_reads_a_boolean(tmp_path: Path, value: str) -> None:
    config = _config(tmp_path, f"probes: {value}\n")
    assert config.settings.probes == "off"
    empty = plan(config.settings.probes, "image")
    assert empty.probes == () and empty.invert is None


def test_a_list_overrides_with_kinds_and_parameters(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "probes:\n  - patch\n  - {kind: blend, alphas: [0.1]}\n  - {kind: invert, budget_s: 5}\n"
        "  - {kind: custom, function: mine.py:stamp, name: logo}\n"
        "policy:\n  triggers: {min_gain: 0.5, inversion: warn}\n",
    )
    probe_plan = plan(config.settings.probes, "image")
    kinds = [s.kind for s in probe_plan.probes]
    assert kinds == ["patch", "blend", "custom"]
    assert probe_plan.invert is not None and probe_plan.invert.budget_s == 5.0
    assert config.policy.triggers.min_gain == 0.5 and config.policy.triggers.inversion == "warn"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("probes: sometimes\n", "probes"),
        ("probes:\n  - {kind: patch, size: [2]}\n", "probes"),
        ("probes:\n  - {kind: laser}\n", "probes"),
        ("policy:\n  triggers: {min_gain: 2}\n", "policy.triggers.min_gain"),
    ],
)
def test_bad_probe_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, text)
    assert info.value.key == key and info.value.line is not None
    if "size" in text:
        assert "did you mean 'sizes'" in info.value.message


def test_a_probe_of_another_modality_is_a_config_error() -> None:
    suite = make_suite(np.zeros((4, 3), dtype=np.float32), np.array([0, 1, 0, 1]), "tabular", [3])
    with pytest.raises(ConfigError, match="needs a image suite"):
        build_probes(plan([PatchProbe(kind="patch")], "tabular"), suite)


def test_schema_documents_probes() -> None:
    schema = json_schema()
    assert "probes" in schema["properties"]
    assert "TriggerPolicy" in schema["$defs"]
