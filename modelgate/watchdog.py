"""A deadline on model code: a model that hangs aborts the run as undecided instead of the job.

Loading a model and scoring a batch run code modelgate does not control (a factory, a callable,
a graph). `deadline` arms a real-time timer; when it fires, the main thread gets an exception
between two Python bytecodes (a `time.sleep` is interrupted too) and the run ends with exit 2.
Time only ever aborts a run: no verdict depends on how fast the runner is.

The timer needs the main thread and SIGALRM (POSIX); elsewhere the deadline is not enforced. A
model stuck inside one native call (a TorchScript loop) is stopped when that call returns, so
CI's own job timeout stays the backstop.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelgate.errors import PredictionError

TIMEOUT_KEY = "inference.timeout_s"
_REPEAT_S = 1.0  # fire again every second, should model code swallow the first one


class _Overdue(BaseException):
    """Raised inside model code; a BaseException so that `except Exception` there cannot keep it."""


def _fire(signum: int, frame: Any) -> None:
    raise _Overdue


def _can_arm() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0  # an outer deadline already governs
    )


@contextmanager
def deadline(seconds: float | None, what: str, *, file: str | Path | None) -> Iterator[None]:
    """Run the block with at most `seconds` of wall-clock time; past it, a PredictionError
    naming `file` and `inference.timeout_s`. None or 0: no deadline."""
    if not seconds or not _can_arm():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _fire)
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds, _REPEAT_S)
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)  # first: nothing may fire after the block
    except _Overdue:
        raise PredictionError(
            f"{what} took longer than {seconds:g} s: aborted, nothing decided",
            file=file,
            key=TIMEOUT_KEY,
            hint="a model that hangs or loops; raise inference.timeout_s if it is only slow",
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
