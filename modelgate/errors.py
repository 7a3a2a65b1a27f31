"""One exception tree for everything a user can get wrong.

Library code raises these; only the front ends (CLI, pytest plugin, Action) turn them into exit
codes and messages, so the engine stays usable as a library.
"""

from __future__ import annotations

from pathlib import Path

EXIT_PASSED = 0
EXIT_FINDINGS = 1
EXIT_UNDECIDED = 2
EXIT_INTERNAL = 3


class ModelgateError(Exception):
    """A problem with the user's inputs: the gate cannot decide (exit code 2)."""

    exit_code = EXIT_UNDECIDED

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        key: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.key = key
        self.line = line
        self.hint = hint

    def one_line(self) -> str:
        """`file:line: key: message (hint)`: the form editors and CI logs make clickable."""
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        key = f"{self.key}: " if self.key else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        text = f"{where}{key}{self.message}{hint}"
        return " ".join(text.split())  # one line, whatever the message carried

    def __str__(self) -> str:
        return self.one_line()


class ConfigError(ModelgateError):
    """The config file is malformed or names something invalid."""


class SuiteError(ModelgateError):
    """The canary suite is missing, malformed or tampered with."""


class ModelLoadError(ModelgateError):
    """A model file or factory cannot be loaded safely."""


class PredictionError(ModelgateError):
    """A model ran but its output cannot be trusted (wrong shape, NaN, an exception)."""


class BaselineError(ModelgateError):
    """The baseline record is missing, malformed or made on another suite."""


class WaiverError(ModelgateError):
    """The waivers file is malformed."""


class CalibrationError(ModelgateError):
    """The calibration record is missing, malformed or made for another baseline."""


class HistoryError(ModelgateError):
    """The run ledger is damaged, foreign or of a newer schema."""


class TimeLimitError(ModelgateError):
    """A wall-clock limit passed: the run was aborted and nothing was decided."""


class UsageError(ModelgateError):
    """A command was called with arguments that do not fit together."""


class TrustError(ModelgateError):
    """A trust anchor cannot be verified: a record unsigned, signed by another key, unknown to
    the run ledger, or disagreeing with the blessed model it names."""


class ShardError(ModelgateError):
    """A shard's partial record is missing, malformed, duplicated or from another run, or a
    distributed run could not predict every canary: nothing is decided on a partial suite."""


class OutputError(ModelgateError):
    """A report or record cannot be written where the config or the command line says."""
