"""Where a config keeps its run ledger, and opening it; the one place that reads `history:`."""

from __future__ import annotations

from pathlib import Path

from modelgate.config import Config
from modelgate.history.ledger import Ledger, open_ledger


def ledger_path(config: Config) -> Path | None:
    """Where the config keeps its ledger; None when history is switched off."""
    spec = config.settings.history
    return config.resolve(spec.path) if spec.enabled else None


def open_config_ledger(config: Config, *, create: bool = True) -> Ledger:
    path = ledger_path(config)
    if path is None:
        from modelgate.errors import HistoryError

        raise HistoryError("history is switched off", file=config.path, key="history.enabled")
    return open_ledger(path, create=create)
