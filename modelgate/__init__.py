"""modelgate: the gate before deploy that stops poisoned models from shipping."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
