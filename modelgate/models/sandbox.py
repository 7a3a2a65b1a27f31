"""Run a code-bearing model (torch.export, TorchScript, a callable) in a confined subprocess.

The child (`sandbox_child.py`) confines itself before the model's code runs (`confine.py`: CPU,
memory and file-size rlimits; network cut by seccomp, a network namespace and Landlock; writes
confined to its own temp folder by Landlock; signals scoped), then answers batches streamed
over a pipe (`wire.py`, never pickle). This process bounds every answer by
`inference.timeout_s`. A crash, a timeout, a limit reached or a forbidden system call is a
ModelLoadError / PredictionError naming the model (exit 2). Gradients cross the pipe too, so a
sandboxed torch model stays white-box for trigger inversion.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from modelgate.errors import ModelLoadError, PredictionError
from modelgate.models.features import KEY as FEATURES_KEY
from modelgate.models.features import MAX_FEATURES, checked_features
from modelgate.models.interface import LoadRequest, Predictor
from modelgate.models.wire import FrameTooLarge, WireError, read_frame, read_header, write_frame
from modelgate.result import ModelInfo

FILE_MB = 1024  # the largest file the model may write in its temp folder
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from modelgate.models.sandbox_child import main; main()"
)
# Signal numbers by name where the OS has them (Windows has none of these).
_SIGXCPU = getattr(signal, "SIGXCPU", None)
_SIGKILL = getattr(signal, "SIGKILL", None)
_SIGSYS = getattr(signal, "SIGSYS", None)
# Only these reach the model's process: never the CI's tokens and secrets.
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "SYSTEMROOT")
# Every sandbox not yet fully stopped, so that exit stops it in the main thread: a finalizer that
# garbage collection happened to start in a daemon thread is cut off when the interpreter exits.
_LIVE: dict[Path, subprocess.Popen[bytes]] = {}


class Sandbox:
    """One child process holding one model."""

    def __init__(self, request: LoadRequest, info: ModelInfo) -> None:
        self.request = request
        self.source = request.path if request.path is not None else request.config_file
        self.timeout_s = request.timeout_s
        self.root = Path(tempfile.mkdtemp(prefix="modelgate-sandbox-"))
        self.workdir = self.root / "work"
        self.workdir.mkdir()
        self.stderr_path = self.root / "stderr.log"
        self._timed_out = False
        self._closed = False
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        env.update(HOME=str(self.workdir), TMPDIR=str(self.workdir), PYTHONHASHSEED="0")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        package_parent = str(Path(__file__).resolve().parents[2])
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, package_parent],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        spec = request.spec
        _LIVE[self.root] = self.process
        self._finalizer = weakref.finalize(self, _kill, self.process, self.root)
        limits = {"cpu_s": spec.sandbox.cpu_s, "memory_mb": spec.sandbox.memory_mb}
        self.limits = {**limits, "file_mb": FILE_MB}
        init = {
            "spec": spec.model_dump(mode="json"),
            "format": info.format,
            "folder": str(request.folder),
            "path": str(request.path) if request.path is not None else None,
            "config_file": str(request.config_file),
            "key": request.key,
            "workdir": str(self.workdir),
            "limits": self.limits,
            "require": spec.sandbox.require,
        }
        try:
            self.ready = self._exchange(init, [], "loading", header_only=True)[0]
        except BaseException:
            # Now, not when the traceback that holds this half-made sandbox is collected: a
            # model that fails to load leaves no process and no folder behind its error.
            self.close()
            raise

    # --- the pipe ---------------------------------------------------------------------------

    def _exchange(
        self, header: dict[str, Any], arrays: list[Any], doing: str, *, header_only: bool = False,
        limit: int | None = None,
    ) -> tuple[dict[str, Any], list[Any]]:  # fmt: skip
        if self._closed:
            raise self._failure(doing, "the model's process was already stopped")
        timer = None
        if self.timeout_s:
            timer = threading.Timer(self.timeout_s, self._expire)
            timer.daemon = True
            timer.start()
        data: list[Any] = []
        try:
            assert self.process.stdin is not None and self.process.stdout is not None
            write_frame(self.process.stdin, header, arrays)
            if header_only:
                reply = read_header(self.process.stdout)
            elif limit is None:
                reply, data = read_frame(self.process.stdout)
            else:
                reply, data = read_frame(self.process.stdout, limit)
        except FrameTooLarge as exc:  # the child is alive, mid-answer: stop it, say what it sent
            self.close()
            raise PredictionError(
                f"{doing}: the model sent {exc}", file=self.source, key=self.request.key
            ) from None
        except (WireError, OSError, ValueError) as exc:
            raise self._failure(doing, str(exc)) from None
        finally:
            if timer is not None:
                timer.cancel()
                # Wait for its thread to end: a daemon thread still winding down when the
                # interpreter exits can run a garbage collection that fires a finalizer while
                # weakref's exit hook walks the registry ("dictionary changed size").
                timer.join()
        if "error" in reply:
            # Nothing carries on after a model's error: stop it now, in this thread.
            error = self._model_error(reply["error"], doing)
            self.close()
            raise error
        if "refused" in reply:
            self.close()
            raise ModelLoadError(
                "sandbox.require is true, but this OS cannot cut the model's network and "
                f"confine its writes (held: {describe_layers(reply['refused'])})",
                file=self.request.config_file,
                key=self.request.at("sandbox.require"),
                hint="run on Linux with seccomp and Landlock, or set sandbox.require: false",
            )
        return reply, data

    def _expire(self) -> None:
        self._timed_out = True
        _kill(self.process, None)

    def _failure(self, doing: str, detail: str) -> PredictionError | ModelLoadError:
        """Why the child stopped answering: a timeout, a limit, a forbidden call, a crash."""
        code = self.process.poll()
        if code is None:
            try:
                code = self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill(self.process, None)
                code = self.process.wait()
        error = ModelLoadError if doing == "loading" else PredictionError
        key, hint = self.request.key, None
        if self._timed_out:
            message = f"{doing} took longer than {self.timeout_s:g} s: the sandbox stopped it"
            key = "inference.timeout_s"
            hint = "a model that hangs or loops; raise inference.timeout_s if it is only slow"
        elif code is not None and -code in (_SIGXCPU, _SIGKILL) and self._cpu_spent():
            message = f"{doing}: the model used up its CPU time ({self.limits['cpu_s']} s)"
            key = self.request.at("sandbox.cpu_s")
        elif code is not None and _SIGSYS is not None and code == -_SIGSYS:
            message = (
                f"{doing}: the model tried a system call the sandbox forbids (a network socket, "
                "io_uring or another ABI) and was killed: an escape attempt"
            )
        elif code is not None and code < 0:
            message = f"{doing}: the model's process was killed by signal {-code}"
        else:
            message = f"{doing}: the model's process exited (code {code}) without answering"
        tail = self._stderr_tail()
        if tail and not self._timed_out:
            message += f"; its last words: {tail}"
        self.close()
        return error(message, file=self.source, key=key, hint=hint)

    def _cpu_spent(self) -> bool:
        # SIGKILL is also our own kill on timeout; only the CPU rlimit otherwise sends it here.
        return not self._timed_out

    def _stderr_tail(self) -> str:
        try:
            text = self.stderr_path.read_bytes()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""

    def _model_error(self, error: Any, doing: str) -> PredictionError | ModelLoadError:
        if not isinstance(error, dict):
            error = {}
        kind = ModelLoadError if doing == "loading" else PredictionError
        message = str(error.get("message", ""))[:500]
        etype = str(error.get("type", "Exception"))[:80]
        key = str(error.get("key") or self.request.key)[:200]
        hint = error.get("hint")
        if error.get("modelgate"):
            return kind(message, file=self.source, key=key, hint=hint)
        if error.get("memory"):
            return kind(
                f"{doing}: the model ran out of its memory limit "
                f"({self.limits['memory_mb']} MiB): {etype}: {message}",
                file=self.source,
                key=self.request.at("sandbox.memory_mb"),
            )
        if etype == "SystemExit":
            return kind(
                f"the model called sys.exit({message}) while {doing}: refused, nothing decided",
                file=self.source,
                key=self.request.key,
            )
        if etype == "PermissionError":
            message += " (the sandbox allows writes only inside its own temp folder)"
        return kind(f"{doing}: model raised {etype}: {message}", file=self.source, key=key)

    # --- what the Predictor calls -------------------------------------------------------------

    def score(self, batch: Any, threads: int = 0) -> Any:
        if isinstance(batch, list):
            header: dict[str, Any] = {"op": "score", "texts": [str(t) for t in batch]}
            arrays: list[Any] = []
        else:
            import numpy as np

            header, arrays = {"op": "score"}, [np.ascontiguousarray(batch)]
        header["threads"] = threads
        _, data = self._exchange(header, arrays, "scoring a batch")
        if len(data) != 1:
            raise PredictionError("the model's process sent no scores", file=self.source)
        return data[0]

    def features(self, batch: Any) -> Any:
        """The model's `.features` for a batch: checked here, whatever the child claims; the
        reply may hold at most (batch, MAX_FEATURES) float64 values."""
        if isinstance(batch, list):
            header: dict[str, Any] = {"op": "features", "texts": [str(t) for t in batch]}
            arrays: list[Any] = []
        else:
            import numpy as np

            header, arrays = {"op": "features"}, [np.ascontiguousarray(batch)]
        limit = max(1, len(batch)) * MAX_FEATURES * 8
        _, data = self._exchange(header, arrays, "computing features", limit=limit)
        if len(data) != 1:
            raise PredictionError(
                "the model's process sent no features", file=self.source, key=FEATURES_KEY
            )
        return checked_features(data[0], len(batch), self.source)

    def grad(self, x: Any, grad_out: Any, threads: int) -> Any:
        header = {"op": "grad", "threads": threads}
        _, data = self._exchange(header, [x, grad_out], "computing a gradient")
        if len(data) != 1 or data[0].shape != x.shape:
            raise PredictionError("the model's process sent a malformed gradient", file=self.source)
        return data[0]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._finalizer()


def _kill(process: subprocess.Popen[bytes], root: Path | None) -> None:
    # The whole session, even once its leader has exited: a process the model started may still
    # be writing into the sandbox's folder (POSIX; elsewhere only the child itself).
    killpg = getattr(os, "killpg", None)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if killpg is not None:
            killpg(process.pid, _SIGKILL)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            process.kill()
        process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)
        _LIVE.pop(root, None)


@atexit.register
def _stop_all_left() -> None:
    for root, process in list(_LIVE.items()):
        _kill(process, root)


def describe_layers(layers: Any) -> str:
    """`cpu 60 s, memory 1024 MiB; network cut (netns, seccomp); writes: temp folder only
    (landlock)`, or what is missing."""
    if not isinstance(layers, dict):
        return "unknown"
    limits = ", ".join(str(v) for v in layers.get("limits", []))
    network = layers.get("network") or []
    writes = layers.get("writes") or []
    parts = [
        limits or "no rlimits",
        f"network cut ({', '.join(network)})" if network else "network NOT cut",
        f"writes: temp folder only ({', '.join(writes)})" if writes else "writes NOT confined",
    ]
    if layers.get("signals"):
        parts.append(f"signals scoped ({', '.join(layers['signals'])})")
    return "; ".join(parts)


def sandboxed(request: LoadRequest, info: ModelInfo) -> Predictor:
    """The model loaded in a fresh sandbox; its Predictor calls into it."""
    box = Sandbox(request, info)
    ready = box.ready
    ran = "sandbox: subprocess; " + describe_layers(ready.get("layers"))
    info = ModelInfo(info.path, info.format, info.sha256, info.carries_code, ran)
    if ready.get("is_torch"):
        from modelgate.models.remote_torch import remote_module

        module = remote_module(box)
        white_box = bool(ready.get("white_box"))
        return Predictor(
            info=info,
            score=module,
            output=request.spec.output,
            module=module if white_box else None,
            is_torch=True,
        )

    def score(batch: Any) -> Any:
        return box.score(batch)

    vocabulary = ready.get("vocabulary")
    if isinstance(vocabulary, list) and all(isinstance(w, str) for w in vocabulary):
        score.vocabulary = vocabulary  # type: ignore[attr-defined]
    if ready.get("features") is True:  # the model opted in to last-layer attribution
        score.features = box.features  # type: ignore[attr-defined]
    score.sandbox = box  # type: ignore[attr-defined]  # keeps the child alive with the predictor
    return Predictor(info=info, score=score, output=request.spec.output)
