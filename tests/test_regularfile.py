"""The one reader of named files: regular files only, and never more than the bound."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelgate.regularfile import read_regular


def test_a_regular_file_and_a_link_to_one_are_read(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"hello")
    os.symlink(tmp_path / "a", tmp_path / "link")
    assert read_regular(tmp_path / "a", 5) == b"hello"
    assert read_regular(tmp_path / "link", None) == b"hello"


def test_a_file_over_the_bound_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 4097)
    with pytest.raises(OSError, match="larger than 4 KiB"):
        read_regular(tmp_path / "big", 4096)


def test_a_fifo_is_refused_at_once_rather_than_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # no writer: a plain open() would block forever
    with pytest.raises(OSError, match="not a regular file"):
        read_regular(tmp_path / "pipe", 10)


def test_a_device_a_folder_and_nothing_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="not a regular file"):
        read_regular(Path("/dev/zero"), 10)  # read-only open: the device is untouched
    with pytest.raises(IsADirectoryError):
        read_regular(tmp_path, 10)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing", 10)


def test_a_name_with_a_nul_byte_is_a_missing_file_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="NUL"):
        read_regular(tmp_path / "x\x00.npy", 10)
