"""Names from records: only a plain file name beside the record is one."""

from __future__ import annotations

import pytest

from modelgate.paths import plain_file_name


@pytest.mark.parametrize("name", ["", " ", ".", "..", "x\x00.npy", "../x.npy", "/etc/x", "a/b"])
def test_what_is_not_a_file_beside_the_record(name: str) -> None:
    assert not plain_file_name(name)


def test_a_plain_name_is_one() -> None:
    assert plain_file_name("baseline.logp.npy")
