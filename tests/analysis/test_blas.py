"""The statistics run on one BLAS thread (the same sums on every machine), then it is restored."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from modelgate.analysis import churn_checks
from modelgate.analysis.blas import one_blas_thread


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_one_thread_inside_and_the_setting_restored_after() -> None:
    np.ones(3) @ np.ones(3)  # numpy's BLAS is loaded
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with one_blas_thread():
            assert _blas_threads() and set(_blas_threads()) == {1}
        assert _blas_threads() == before


def test_the_statistical_checks_run_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[int]] = []
    monkeypatch.setattr(
        churn_checks, "_statistical_checks", lambda *a: seen.append(_blas_threads())
    )
    churn_checks.statistical_checks(*[None] * 6)  # type: ignore[arg-type]
    assert seen and set(seen[0]) == {1}
