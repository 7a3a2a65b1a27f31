"""Model loaders: every supported format becomes one Predictor (a plug-in family: `interface.py`
plus one module per format; `load.py` picks one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelgate.models.interface import Predictor

if TYPE_CHECKING:
    from modelgate.models.load import load_candidate, load_predictor

__all__ = ["Predictor", "load_candidate", "load_predictor"]


def __getattr__(name: str) -> Any:
    # Lazy: the sandbox child imports this package before it is confined, and must not pull in
    # the config machinery (or anything that starts threads) that early.
    if name in ("load_predictor", "load_candidate"):
        from modelgate.models import load

        return getattr(load, name)
    raise AttributeError(name)
