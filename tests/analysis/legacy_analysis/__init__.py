"""The churn kernels as they were before vectorising (commit b49205e), kept verbatim so the
tests can check that the fast ones give the same statistics."""
