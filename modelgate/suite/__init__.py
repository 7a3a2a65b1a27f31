"""Canary suites: a versioned, frozen folder of trusted labelled examples."""

from modelgate.suite.format import Suite, SuiteManifest, load_suite

__all__ = ["Suite", "SuiteManifest", "load_suite"]
