"""Pictures of what the trigger checks found, for image suites: saved as PNG next to the report.

One strip per flagged class: the recovered mask, pattern and mask x pattern, then held-out
canaries with the recovered trigger stamped; and, for a probe finding, canaries before and after
the probe. File names use class indices only: class names come from an untrusted suite.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from modelgate.probes.image import layout, to_chw
from modelgate.probes.png import png_bytes
from modelgate.probes.probe import value_range
from modelgate.probes.results import TriggerRun
from modelgate.result import CheckName, GateResult, Picture
from modelgate.suite.format import Suite

MAX_CLASSES = 3
SHOWN = 4
_TILE = 64  # smallest side of one tile, in pixels
_GUTTER = 224


def _rgb(chw: np.ndarray, lo: float, hi: float, scale: int) -> np.ndarray:
    """One (C, H, W) image -> an upscaled (H*s, W*s, 3) uint8 tile."""
    img = np.clip((np.asarray(chw, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    rgb = img[:3].transpose(1, 2, 0) if img.shape[0] >= 3 else np.repeat(img[0][..., None], 3, 2)
    tile = (rgb * 255).round().astype(np.uint8)
    return tile.repeat(scale, axis=0).repeat(scale, axis=1)


def _strip(tiles: list[np.ndarray]) -> np.ndarray:
    h = max(t.shape[0] for t in tiles)
    gap = np.full((h, 6, 3), _GUTTER, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for tile in tiles:
        padded = np.full((h, tile.shape[1], 3), _GUTTER, dtype=np.uint8)
        padded[: tile.shape[0]] = tile
        parts += [padded, gap]
    return np.concatenate(parts[:-1], axis=1)


def _class_of(suite: Suite, name: object) -> int | None:
    return suite.classes.index(str(name)) if str(name) in suite.classes else None


def trigger_pictures(
    result: GateResult, run: TriggerRun, suite: Suite
) -> list[tuple[str, str, np.ndarray]]:
    """(file name, caption, RGB array) for each flagged class, inversion first."""
    if suite.manifest.modality != "image" or not (
        _findings(result, CheckName.INVERSION) or _findings(result, CheckName.TRIGGERS)
    ):
        return []
    shape = tuple(suite.manifest.input.shape)
    kind = layout(shape)[3]
    lo, hi = value_range(suite)
    scale = max(1, -(-_TILE // min(layout(shape)[1:3])))
    out: list[tuple[str, str, np.ndarray]] = []
    inv = run.inversion
    for finding in _findings(result, CheckName.INVERSION)[:MAX_CLASSES]:
        t = _class_of(suite, dict(finding.evidence).get("class"))
        if inv is None or t is None:
            continue
        mask = to_chw(inv.masks[t][None], kind)[0]
        pattern = to_chw(inv.patterns[t][None], kind)[0]
        others = np.flatnonzero(suite.labels != t)[:SHOWN]
        clean = to_chw(np.asarray(suite.inputs[others], dtype=np.float64), kind)
        stamped = (1 - mask) * clean + mask * pattern
        tiles = [_rgb(mask, 0.0, 1.0, scale), _rgb(pattern, lo, hi, scale)]
        tiles += [_rgb(mask * (pattern - lo) + lo, lo, hi, scale)]
        tiles += [_rgb(s, lo, hi, scale) for s in stamped]
        caption = (
            f"Recovered trigger for class '{suite.classes[t]}': mask, pattern, mask x pattern, "
            f"then canaries of other classes with it stamped"
        )
        out.append((f"trigger-class-{t}.png", caption, _strip(tiles)))
    probes = {p.name: p for p in run.probes}
    for finding in _findings(result, CheckName.TRIGGERS)[:MAX_CLASSES]:
        evidence = dict(finding.evidence)
        t = _class_of(suite, evidence.get("class"))
        probe = probes.get(str(evidence.get("probe")))
        if t is None or probe is None or not finding.canaries:
            continue
        position = {cid: i for i, cid in enumerate(suite.ids)}
        index = np.array([position[c] for c in finding.canaries[:SHOWN]])
        clean = np.asarray(suite.inputs[index])
        stamped = to_chw(np.asarray(probe.apply(clean.copy()), dtype=np.float64), kind)
        before = to_chw(clean.astype(np.float64), kind)
        tiles = [_rgb(img, lo, hi, scale) for pair in zip(before, stamped) for img in pair]
        caption = (
            f"Probe '{probe.name}': canaries before and after stamping, each now predicted "
            f"'{suite.classes[t]}'"
        )
        out.append((f"probe-class-{t}.png", caption, _strip(tiles)))
    return out


def _findings(result: GateResult, check: str) -> list:  # type: ignore[type-arg]
    return [f for c in result.checks if c.name == check for f in c.findings]


def write_pictures(result: GateResult, run: TriggerRun, suite: Suite, folder: Path) -> GateResult:
    """Write the pictures into `folder` and list them (paths relative to its parent)."""
    from modelgate.report import discard_pictures

    if folder.is_dir():
        discard_pictures(folder)  # an earlier run's trigger must not sit beside this report
    pictures = trigger_pictures(result, run, suite)
    if not pictures:
        return result
    folder.mkdir(parents=True, exist_ok=True)
    listed = []
    for name, caption, rgb in pictures:
        (folder / name).write_bytes(png_bytes(rgb))
        listed.append(Picture(path=f"{folder.name}/{name}", caption=caption))
    return dataclasses.replace(result, pictures=(*result.pictures, *listed))
