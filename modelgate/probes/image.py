"""Image probes: square patches at corners, edges and the centre, and whole-image blends.

Inputs are (C, H, W), (H, W, C) or (H, W); stamping works on a channels-first view and hands the
batch back in its own layout and dtype. Every random pattern comes from a fixed seed.
"""

from __future__ import annotations

import typing
from collections.abc import Callable

import numpy as np

from modelgate.probe_settings import BlendProbe, PatchProbe, Position
from modelgate.probes.probe import Probe

POSITIONS: tuple[str, ...] = typing.get_args(Position)  # every named spot, in order
PATTERNS = ("white", "black", "checker", "random")
BLENDS = ("noise", "sine")
ALPHAS = (0.1, 0.2, 0.3)
CONTROL_SEEDS = (101, 102)
Transform = Callable[[np.ndarray], np.ndarray]


def layout(shape: tuple[int, ...]) -> tuple[int, int, int, str]:
    """(channels, height, width, layout) of one canary: "chw", "hwc" or "hw"."""
    if len(shape) == 2:
        return 1, shape[0], shape[1], "hw"
    if len(shape) == 3 and shape[0] <= 4 < shape[1]:
        return shape[0], shape[1], shape[2], "chw"
    if len(shape) == 3 and shape[2] <= 4 < shape[0]:
        return shape[2], shape[0], shape[1], "hwc"
    if len(shape) == 3:
        return shape[0], shape[1], shape[2], "chw"
    raise ValueError(f"an image canary needs 2 or 3 dimensions, got shape {shape}")


def to_chw(batch: np.ndarray, kind: str) -> np.ndarray:
    if kind == "hw":
        return batch[:, None]
    return np.moveaxis(batch, -1, 1) if kind == "hwc" else batch


def from_chw(batch: np.ndarray, kind: str) -> np.ndarray:
    if kind == "hw":
        return batch[:, 0]
    return np.moveaxis(batch, 1, -1) if kind == "hwc" else batch


def default_sizes(height: int, width: int) -> list[int]:
    side = min(height, width)
    # Small triggers only: a patch over a quarter of the image destroys the object, and clean
    # retrains disagree wildly about what such an input is.
    if side <= 16:
        return [s for s in (2, 3) if s < side]
    return sorted({max(2, round(side * f)) for f in (0.08, 0.12, 0.16)})


def origin(position: str, size: int, height: int, width: int) -> tuple[int, int]:
    """Top-left pixel of a `size` patch at a named position ("top" = middle of the top edge)."""
    rows = {"top": 0, "bottom": height - size}
    cols = {"left": 0, "right": width - size}
    parts = position.split("-")
    r = next((rows[p] for p in parts if p in rows), (height - size) // 2)
    c = next((cols[p] for p in parts if p in cols), (width - size) // 2)
    return r, c


def pattern(name: str, channels: int, size: int, lo: float, hi: float, seed: int) -> np.ndarray:
    """A (C, size, size) patch pattern in the canaries' value range."""
    if name == "white":
        return np.full((channels, size, size), hi)
    if name == "black":
        return np.full((channels, size, size), lo)
    if name == "checker":
        board = np.indices((size, size)).sum(axis=0) % 2 == 0
        return np.broadcast_to(np.where(board, hi, lo), (channels, size, size)).copy()
    return np.random.default_rng(seed).uniform(lo, hi, size=(channels, size, size))


def _stamper(shape: tuple[int, ...], r: int, c: int, patch: np.ndarray) -> Transform:
    kind = layout(shape)[3]
    s = patch.shape[-1]

    def apply(batch: np.ndarray) -> np.ndarray:
        out = to_chw(np.array(batch, copy=True), kind)
        out[:, :, r : r + s, c : c + s] = patch.astype(out.dtype)
        return from_chw(out, kind)

    return apply


def patch_probes(spec: PatchProbe, shape: tuple[int, ...], lo: float, hi: float) -> list[Probe]:
    """Every size x position x pattern, plus random-pattern controls per size and position."""
    channels, height, width, _ = layout(shape)
    sizes = [s for s in (spec.sizes or default_sizes(height, width)) if s <= min(height, width)]
    probes = []
    for size in sorted(set(sizes)):
        for position in spec.positions or POSITIONS:
            r, c = origin(position, size, height, width)
            group = f"control/patch/{size}x{size}/{position}"
            for name in spec.patterns or PATTERNS:
                patch = pattern(name, channels, size, lo, hi, seed=size)
                probes.append(
                    Probe(
                        f"patch/{size}x{size}/{position}/{name}",
                        "patch",
                        _stamper(shape, r, c, patch),
                        control=group,
                    )
                )
            for seed in CONTROL_SEEDS:
                patch = pattern("random", channels, size, lo, hi, seed=seed * 1000 + size)
                probes.append(
                    Probe(f"{group}/{seed}", "patch", _stamper(shape, r, c, patch), is_control=True)
                )
    return probes


def blend_pattern(name: str, shape: tuple[int, ...], lo: float, hi: float, seed: int) -> np.ndarray:
    """A whole-image (C, H, W) pattern: seeded uniform noise or diagonal sine stripes."""
    channels, height, width, _ = layout(shape)
    if name == "sine":
        rows, cols = np.mgrid[0:height, 0:width]
        period = max(3.0, min(height, width) / 4)
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * (rows + cols) / period)
        return np.broadcast_to(lo + (hi - lo) * wave, (channels, height, width)).copy()
    return np.random.default_rng(seed).uniform(lo, hi, size=(channels, height, width))


def _blender(shape: tuple[int, ...], mix: np.ndarray, alpha: float) -> Transform:
    kind = layout(shape)[3]

    def apply(batch: np.ndarray) -> np.ndarray:
        out = to_chw(np.asarray(batch, dtype=np.float64), kind)
        blended = (1.0 - alpha) * out + alpha * mix
        return from_chw(blended, kind).astype(np.asarray(batch).dtype)

    return apply


def blend_probes(spec: BlendProbe, shape: tuple[int, ...], lo: float, hi: float) -> list[Probe]:
    """Each pattern at each alpha, with noise of other seeds at the same alpha as control."""
    probes = []
    for alpha in sorted(set(spec.alphas or ALPHAS)):
        group = f"control/blend/{alpha:g}"
        for name in spec.patterns or BLENDS:
            mix = blend_pattern(name, shape, lo, hi, seed=0)
            probes.append(
                Probe(f"blend/{name}/{alpha:g}", "blend", _blender(shape, mix, alpha), group)
            )
        for seed in CONTROL_SEEDS:
            mix = blend_pattern("noise", shape, lo, hi, seed=seed)
            probes.append(
                Probe(f"{group}/{seed}", "blend", _blender(shape, mix, alpha), is_control=True)
            )
    return probes
