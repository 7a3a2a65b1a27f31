"""A memory-mapped suite streams in bounded memory: read pages are dropped, no value changes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from modelgate.suite.pages import PageReleaser

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/smaps")
# The kernel maps a file's pages in folios of up to 2 MiB (fault-around, large folios), so the
# resident set of a mapping is only known to within a few of them.
SLACK_KIB = 4096
ROWS = 65536  # 16 MiB of 8x8 float32 canaries


def _resident_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of `path` (Linux)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = len(fields) >= 6 and fields[-1] == str(path)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


def _mapped(tmp_path: Path, rows: int = ROWS) -> tuple[Path, np.ndarray]:
    values = np.random.default_rng(0).random((rows, 1, 8, 8), dtype=np.float32)
    path = tmp_path / "inputs.npy"
    np.save(path, values)
    return path, values


@linux_only
def test_read_rows_leave_the_resident_set_and_read_back_the_same(tmp_path: Path) -> None:
    path, values = _mapped(tmp_path)
    mapped = np.load(path, mmap_mode="r")
    assert float(mapped.sum()) == float(values.sum())  # every page touched
    assert _resident_kib(path) >= values.nbytes // 1024 - SLACK_KIB
    pages = PageReleaser(mapped)
    pages.release(len(mapped) // 2)
    assert _resident_kib(path) <= values.nbytes // 2048 + SLACK_KIB
    pages.release(len(mapped))
    assert _resident_kib(path) <= SLACK_KIB
    np.testing.assert_array_equal(mapped, values)  # faulted back from the file, unchanged


@linux_only
def test_a_slice_releases_only_from_its_own_rows(tmp_path: Path) -> None:
    path, values = _mapped(tmp_path)
    mapped = np.load(path, mmap_mode="r")
    np.asarray(mapped).sum()
    shard = mapped[ROWS // 4 : ROWS // 2]
    PageReleaser(shard).release(ROWS)  # past its end: stops at the mapping's end
    np.testing.assert_array_equal(mapped, values)
    np.testing.assert_array_equal(shard, values[ROWS // 4 : ROWS // 2])


@pytest.mark.parametrize(
    "inputs",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),  # in memory: nothing to release
        ["a text", "another"],
        np.empty((0, 4), dtype=np.float32),
    ],
    ids=["array", "texts", "empty"],
)
def test_what_is_not_a_read_only_map_is_left_alone(inputs: object) -> None:
    before = np.array(inputs, copy=True)
    PageReleaser(inputs).release(10)
    np.testing.assert_array_equal(np.array(inputs), before)


@linux_only
def test_a_copy_on_write_map_is_left_alone(tmp_path: Path) -> None:
    path, values = _mapped(tmp_path, rows=4096)
    mapped = np.load(path, mmap_mode="c")
    mapped[0] = 7.0  # a private change that dropping its page would lose
    PageReleaser(mapped).release(len(mapped))
    assert float(mapped[0].max()) == 7.0
    np.testing.assert_array_equal(mapped[1:], values[1:])


@linux_only
def test_a_pass_over_a_suite_keeps_only_a_batch_of_it_resident(tmp_path: Path) -> None:
    from modelgate.suite.format import load_suite
    from modelgate.suite.freeze import init_suite

    values = np.random.default_rng(1).random((ROWS, 1, 8, 8), dtype=np.float32)
    init_suite(
        tmp_path / "suite",
        name="pages",
        modality="image",
        inputs=values,
        labels=[str(i % 2) for i in range(len(values))],
        classes=["0", "1"],
        curated_by="test",
        source="noise",
    )
    suite = load_suite(tmp_path / "suite")
    path = (tmp_path / "suite" / "inputs.npy").resolve()
    seen = []
    for _start, batch in suite.batches(256):
        seen.append(np.array(batch))
        assert _resident_kib(path) <= SLACK_KIB  # of 16 MiB read
    np.testing.assert_array_equal(np.concatenate(seen), values)
