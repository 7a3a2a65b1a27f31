"""The probe set for one suite: named, deterministic batch transforms, each with its control.

A probe's stamped inputs depend only on the suite and the probe spec, never on the model, so the
blessed model's counts (stored at bless time) and the candidate's describe the same inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelgate.errors import ConfigError
from modelgate.probe_settings import (
    BlendProbe,
    CustomProbe,
    FeatureProbe,
    PatchProbe,
    ProbePlan,
    TokenProbe,
)
from modelgate.probes.probe import Probe, value_range
from modelgate.suite.format import Suite


def build_probes(
    probe_plan: ProbePlan,
    suite: Suite,
    *,
    score: Any = None,
    folder: Path | None = None,
    config_file: Path | None = None,
) -> list[Probe]:
    """Every probe (and control) of the plan for this suite, sorted by name, names unique."""
    modality = suite.manifest.modality
    probes: dict[str, Probe] = {}
    for n, spec in enumerate(probe_plan.probes):
        if isinstance(spec, CustomProbe):
            made = [_custom(spec, folder or Path.cwd(), config_file)]
        else:
            _check_modality(spec, modality, n, config_file)
            made = _family(spec, suite, score, folder)
        for probe in made:
            probes.setdefault(probe.name, probe)
    return [probes[name] for name in sorted(probes)]


_MODALITY = {"patch": "image", "blend": "image", "token": "text", "feature": "tabular"}


def _check_modality(spec: Any, modality: str, n: int, config_file: Path | None) -> None:
    wanted = _MODALITY[spec.kind]
    if wanted != modality:
        raise ConfigError(
            f"a {spec.kind} probe needs a {wanted} suite; this suite is {modality}",
            file=config_file,
            key=f"probes.{n}",
            hint="use `probes: default` to get the probes of the suite's modality",
        )


def _family(spec: Any, suite: Suite, score: Any, folder: Path | None) -> list[Probe]:
    if isinstance(spec, (PatchProbe, BlendProbe)):
        from modelgate.probes import image

        shape = tuple(suite.manifest.input.shape)
        lo, hi = value_range(suite)
        if isinstance(spec, PatchProbe):
            return image.patch_probes(spec, shape, lo, hi)
        return image.blend_probes(spec, shape, lo, hi)
    if isinstance(spec, TokenProbe):
        from modelgate.probes import text

        assert isinstance(suite.inputs, list)
        return text.token_probes(spec, suite.inputs, suite.labels.tolist(), score, folder)
    assert isinstance(spec, FeatureProbe)
    from modelgate.probes import tabular

    return tabular.feature_probes(spec, np.asarray(suite.inputs))


def _custom(spec: CustomProbe, folder: Path, config_file: Path | None) -> Probe:
    from modelgate.models.imports import resolve_reference

    function = resolve_reference(
        spec.function, folder, file=config_file or folder, key="probes.custom.function"
    )
    name = spec.name or spec.function.rpartition(":")[2]
    return Probe(name=f"custom/{name}", family="custom", apply=function)
