"""modelgate: the gate before deploy that stops poisoned models from shipping.

The public API (`modelgate.check`, `modelgate.bless`, `modelgate.calibrate`, `modelgate.run_check`)
lives in `modelgate.api`; it is imported on first use, so `import modelgate` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelgate._version import __version__

if TYPE_CHECKING:
    from modelgate.api import (
        BlessOutcome,
        CalibrationOutcome,
        CheckRun,
        GateResult,
        ReportRequest,
        bless,
        calibrate,
        check,
        run_check,
    )

__all__ = [
    "BlessOutcome",
    "CalibrationOutcome",
    "CheckRun",
    "GateResult",
    "ReportRequest",
    "__version__",
    "bless",
    "calibrate",
    "check",
    "run_check",
]
_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from modelgate import api

        return getattr(api, name)
    raise AttributeError(f"module 'modelgate' has no attribute {name!r}")
