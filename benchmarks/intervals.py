"""Confidence intervals the benchmarks print, from scipy (not written again here)."""

from __future__ import annotations

from scipy.stats import binomtest


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials; (0, 1) when there are none."""
    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))
