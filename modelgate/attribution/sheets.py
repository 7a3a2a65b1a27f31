"""Contact sheets: for image training data, one PNG per attributed finding of its top rows, so a
reviewer sees what the suspect rows look like. File names use finding numbers only (names from
the manifest are untrusted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SHEET_ROWS = 16  # tiles on a contact sheet
_TILE = 48
_GUTTER = 224


def contact_sheets(report: Any, data: Any, folder: Path) -> dict[int, str]:
    """One PNG per finding of its top rows (image training data only): file names by finding
    number; returns number -> file name."""
    rows = data.rows
    if rows.manifest.modality != "image":
        return {}
    from modelgate.atomic import write_bytes_atomic
    from modelgate.probes.image import layout, to_chw
    from modelgate.probes.png import png_bytes

    shape = tuple(rows.manifest.input.shape)
    kind = layout(shape)[3]
    out: dict[int, str] = {}
    for n, f in enumerate(report.findings, start=1):
        at = np.asarray([r.position for r in f.top_rows[:SHEET_ROWS]], dtype=np.int64)
        if not len(at):
            continue
        chw = to_chw(np.asarray(rows.inputs[np.sort(at)], dtype=np.float64), kind)
        chw = chw[np.argsort(np.argsort(at))]  # back to rank order
        name = f"attribution-finding-{n}.png"
        folder.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(folder / name, png_bytes(_sheet(chw)))
        out[n] = name
    return out


def _sheet(chw: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> one RGB strip, each tile scaled to the batch's own value range."""
    lo, hi = float(chw.min()), float(chw.max())
    img = np.clip((chw - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    scale = max(1, -(-_TILE // min(chw.shape[2:])))
    tiles = []
    for x in img:
        rgb = x[:3].transpose(1, 2, 0) if x.shape[0] >= 3 else np.repeat(x[0][..., None], 3, 2)
        tile = (rgb * 255).round().astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
        tiles += [tile, np.full((tile.shape[0], 4, 3), _GUTTER, dtype=np.uint8)]
    return np.concatenate(tiles[:-1], axis=1)
