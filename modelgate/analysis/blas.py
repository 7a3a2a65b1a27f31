"""One BLAS thread for the statistics: sums that do not depend on the runner's core count.

OpenBLAS splits a long dot product (the least squares lines over the 10^7 (canary, class)
cells of a million canaries) among its threads and adds their partial sums, so the last bits
of a statistic changed with the machine's cores: a verdict must not. One thread adds in one
order everywhere. It is also cheaper: these products are bound by memory, not arithmetic, and
the idle threads of each one spin on the other cores for a while after it (at 10^6 canaries a
third of the statistics' CPU seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with every loaded BLAS library on one thread, then restore them."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
