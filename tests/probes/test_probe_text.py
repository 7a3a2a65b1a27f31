"""A text probe's word list is a file a pull request can change: only a regular file is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelgate.errors import ConfigError
from modelgate.probe_settings import TokenProbe
from modelgate.probes.text import _word_list


def test_a_word_list_is_read_one_word_a_line(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("# a comment\nalpha\n\n  beta \n", encoding="utf-8")
    spec = TokenProbe(kind="token", words="words.txt")
    assert _word_list(spec, tmp_path) == ["alpha", "beta"]


@pytest.mark.parametrize("make", ["missing", "folder", "fifo", "not-utf8"])
def test_a_word_list_that_is_not_a_readable_file_is_named(tmp_path: Path, make: str) -> None:
    path = tmp_path / "words.txt"
    if make == "folder":
        path.mkdir()
    elif make == "fifo":
        os.mkfifo(path)  # reading it would never end
    elif make == "not-utf8":
        path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as caught:
        _word_list(TokenProbe(kind="token", words="words.txt"), tmp_path)
    assert caught.value.file == str(path) and caught.value.key == "probes.words"
