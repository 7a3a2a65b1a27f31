"""The allocator tuning is only bookkeeping: it takes where glibc is, and is done once."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from modelgate.heap import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_allocator_keeps_freed_memory_and_numbers_do_not_change() -> None:
    before = np.random.default_rng(0).normal(size=(1000, 10)).sum(axis=0)
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # once per process: the second call is the first's answer
    after = np.random.default_rng(0).normal(size=(1000, 10)).sum(axis=0)
    np.testing.assert_array_equal(before, after)
