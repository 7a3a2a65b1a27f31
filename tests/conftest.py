"""Fixtures shared by the whole suite; the builders live in `projects.py`."""

from __future__ import annotations

from hypothesis import settings
from projects import project

# Hypothesis' per-example deadline is an assertion on wall-clock time: on a loaded runner it
# failed a correct test (392 ms against 200 ms). No test here may depend on elapsed time.
settings.register_profile("modelgate", deadline=None)
settings.load_profile("modelgate")

__all__ = ["project"]
