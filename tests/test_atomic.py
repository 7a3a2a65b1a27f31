from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from modelgate import atomic
from modelgate.atomic import write_bytes_atomic, write_text_atomic


def test_writes_text_as_utf8_and_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "report.md"
    write_text_atomic(target, "café ✅\r\nline\n")
    assert target.read_bytes() == "café ✅\r\nline\n".encode()


def test_replaces_an_existing_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_failed_write_keeps_the_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_failed_fsync_leaves_the_target_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError("io error")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="io error"):
        write_text_atomic(tmp_path / "r.json", "new")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_mode_follows_the_umask_like_a_plain_open(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "r.json", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644


def test_never_replaces_a_fifo_and_a_failed_run_never_removes_one(tmp_path: Path) -> None:
    """A FIFO (or a device) named as an output by mistake stays what it was."""
    from modelgate.report import discard_reports

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(OSError) as caught:
        write_bytes_atomic(fifo, b"{}")
    assert caught.value.filename == str(fifo)
    discard_reports({"json": fifo})
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe.json"]  # no temporary file left


def test_a_symlink_at_the_path_is_replaced_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("a file the link aims at")
    (tmp_path / "reports").mkdir()
    link = tmp_path / "reports" / "modelgate-report.json"
    link.symlink_to(outside)
    write_bytes_atomic(link, b"{}")
    assert not link.is_symlink() and link.read_bytes() == b"{}"
    assert outside.read_text() == "a file the link aims at"


def test_a_secret_is_created_with_its_mode_from_the_start(tmp_path: Path) -> None:
    target = tmp_path / "team.key"
    target.write_text("an older, world-readable key")
    target.chmod(0o644)
    write_bytes_atomic(target, b"secret", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_bytes() == b"secret"
