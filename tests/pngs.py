"""Reading the PNGs modelgate writes, with Pillow (a test dependency), to check their pixels."""

from __future__ import annotations

import io

import numpy as np


def read_png(data: bytes) -> np.ndarray:
    """(height, width, 3) uint8 pixels of a PNG file's bytes; Pillow also checks every CRC."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))
