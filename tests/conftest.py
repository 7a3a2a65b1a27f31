"""Fixtures shared by the whole suite; the builders live in `projects.py`."""

from __future__ import annotations

from projects import project

__all__ = ["project"]
