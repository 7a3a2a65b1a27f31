"""Which data drove it: attribute a failing check to training rows and to their sources.

Light on import (no torch): the config imports `spec`, and `modelgate --help` imports nothing
here. The heavy parts (captum's TracIn, the model) load inside `attribute_result`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelgate.attribution.result import AttributionReport


def attribute_result(config: Any, result: Any, **context: Any) -> AttributionReport:
    """Attribute every failing finding of `result` (see `attribution.run.attribute_result`)."""
    from modelgate.attribution.run import attribute_result as run

    return run(config, result, **context)


__all__ = ["attribute_result"]
