"""The blessed record in the baseline header, and the PNG encoder the pictures use."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from pngs import read_png

from modelgate.errors import BaselineError
from modelgate.probes.measure import ProbeCounts
from modelgate.probes.png import png_bytes
from modelgate.probes.record import probes_to_header, read_inversion, read_probes


def test_probe_counts_round_trip_one_line_per_probe() -> None:
    counts = ProbeCounts(
        names=("patch/b", "patch/a"),
        hits=np.array([[1, 2, 3], [4, 5, 6]]),
        eligible=np.array([10, 11, 12]),
        predicted=np.zeros((2, 0), dtype=np.int64),
        index=np.zeros(0, dtype=np.int64),
    )
    header = probes_to_header(counts)
    assert list(header["hits"]) == ["patch/a", "patch/b"] and header["hits"]["patch/a"] == "4 5 6"
    blessed = read_probes({"probes": header}, 3)
    assert blessed is not None and blessed.hits["patch/b"].tolist() == [1, 2, 3]
    assert read_probes({}, 3) is None and read_inversion({}, 3) is None


@pytest.mark.parametrize(
    "header",
    [
        {"probes": {"eligible": [1, 2], "hits": {}}},
        {"probes": {"eligible": [1, 2, 3], "hits": {"p": "1 x 3"}}},
        {"inversion": {"norms": [1.0], "universal_hits": [1], "held_out": [1], "steps": 5}},
        # searched (universal hits) yet without a size: it switched the inversion check off
        {
            "inversion": {
                "norms": [None, 1.0, 1.0],
                "universal_hits": [3, 3, 3],
                "held_out": [5] * 3,
            }
        },
    ],
)
def test_malformed_records_are_refused(header: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(BaselineError):
        read_probes(header, 3)
        read_inversion(header, 3)


def test_png_is_valid_and_round_trips() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    data = png_bytes(rgb)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (7, 5, 8, 2)
    (length,) = struct.unpack(">I", data[8:12])
    assert (
        zlib.crc32(data[12 : 16 + length])
        == struct.unpack(">I", data[16 + length : 20 + length])[0]
    )
    np.testing.assert_array_equal(read_png(data), rgb)
    with pytest.raises(ValueError):
        png_bytes(rgb[..., 0])
