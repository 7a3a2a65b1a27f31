"""`inference.engine: ray`: predict the suite with Ray Data `map_batches` on a Ray cluster.

The dataset is the suite's batch numbers; each Ray worker (an actor) loads the candidate once,
opens and verifies the memory-mapped suite itself, and scores whole batches exactly as
`inference.batch_size` cuts them, so every canary gets the bytes a local run gives it. Results
come back with their suite positions and are put in suite order here; a position that never
came back is a ShardError (exit 2), never a verdict on part of the suite. A worker that dies is
restarted and its batches retried by Ray (`_RETRIES` times). Only this module imports ray.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from modelgate.config import Config
from modelgate.errors import ModelgateError, ShardError
from modelgate.models.interface import Predictor
from modelgate.predict import Predictions
from modelgate.suite.format import Suite

_RETRIES = 3  # restarts of a dead worker, and retries of the batches it held
_BATCHES_PER_CALL = 16  # suite batches one map call scores, at most
_CARRIED = "modelgate-error:"


class _Scorer:
    """One Ray worker: the candidate loaded once, the suite opened once."""

    def __init__(self, config: Config, digest: str, model_sha256: str, rows: tuple[int, int]):
        try:
            self._open(config, digest, model_sha256)
        except ModelgateError as exc:
            raise _carried(exc) from None
        self.config = config
        self.rows = rows

    def _open(self, config: Config, digest: str, model_sha256: str) -> None:
        from modelgate.devices import place
        from modelgate.models import load_predictor
        from modelgate.suite.format import load_suite

        inference = config.settings.inference
        if inference.threads:
            import torch

            torch.set_num_threads(inference.threads)
        self.suite = load_suite(config.suite_path)  # verified here: workers may not share disks
        if self.suite.digest != digest:
            raise ShardError(
                f"a Ray worker reads another suite (digest {self.suite.digest[:12]}...)",
                file=config.suite_path,
                key="suite",
                hint="every Ray node must see the same suite at the same path",
            )
        predictor = load_predictor(
            config.candidate,
            config.folder,
            config_file=config.path,
            key="candidate",
            timeout_s=inference.timeout_s,
            classes=self.suite.classes,
        )
        self.predictor = place(predictor, inference.device, config_file=config.path)
        if self.predictor.info.sha256 != model_sha256:
            raise ShardError(
                "a Ray worker loads another candidate file than this process",
                file=self.predictor.info.path,
                key="candidate",
                hint="every Ray node must see the same model file at the same path",
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return self._score(batch)
        except ModelgateError as exc:
            raise _carried(exc) from None

    def _score(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from modelgate.inference.local import predict_local

        size = self.config.settings.inference.batch_size
        start, stop = self.rows
        positions, scores = [], []
        for number in batch["data"].tolist():
            lo = start + number * size
            hi = min(lo + size, stop)
            out = predict_local(self.config, self.predictor, self.suite, rows=(lo, hi))
            positions.append(np.arange(lo, hi, dtype=np.int64))
            scores.append(out.log_probs)
        return {"row": np.concatenate(positions), "log_probs": np.concatenate(scores)}


def predict_on_ray(
    config: Config,
    predictor: Predictor,
    suite: Suite,
    *,
    rows: tuple[int, int],
    progress: Callable[[int, int], None] | None = None,
) -> Predictions:
    """Predict canaries [start, stop) on Ray workers; joins `inference.address`, or starts a
    local Ray for this run (and stops it after) when none is running and none is named."""
    try:
        import ray
    except ImportError:
        raise ShardError(
            "needs Ray, which is not installed",
            file=config.path,
            key="inference.engine",
            hint='pip install "modelgate[ray]", or set inference.engine: local',
        ) from None
    inference = config.settings.inference
    start, stop = rows
    n, k = stop - start, len(suite.classes)
    log_probs = np.empty((n, k), dtype=np.float32)
    seen = np.zeros(n, dtype=bool)
    started_here = not ray.is_initialized()
    quiet = _Quiet()  # Ray Data's progress lines are not modelgate's output
    try:
        if started_here:
            ray.init(
                address=inference.address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        batches = -(-n // inference.batch_size)
        workers = inference.workers or _default_workers(ray.cluster_resources(), inference)
        per_call = max(1, min(_BATCHES_PER_CALL, batches // (4 * workers)))
        # Blocks made here, not by read tasks: a read task would wait for a CPU the workers hold.
        numbers = np.arange(batches, dtype=np.int64)
        data = ray.data.from_numpy([numbers[i : i + per_call] for i in range(0, batches, per_call)])
        with warnings.catch_warnings():
            # Ray 2.60 names the restart limits only through its (deprecated) remote args.
            warnings.simplefilter("ignore", DeprecationWarning)
            scored = data.map_batches(
                _Scorer,
                fn_constructor_args=(config, suite.digest, predictor.info.sha256, rows),
                batch_size=per_call,
                compute=ray.data.ActorPoolStrategy(size=max(1, min(workers, batches))),
                num_cpus=1 if not inference.num_gpus_per_worker else 0,
                num_gpus=inference.num_gpus_per_worker or None,
                max_restarts=_RETRIES,  # a dead worker is started again, at most this often
                max_task_retries=_RETRIES,
            )
        for out in scored.iter_batches(batch_size=None, batch_format="numpy"):
            where = out["row"] - start
            log_probs[where] = out["log_probs"]
            seen[where] = True
            if progress is not None:
                progress(int(seen.sum()), n)
    except ModelgateError:
        raise
    except Exception as exc:
        raise _undecided(exc, config, seen, start) from None
    finally:
        quiet.restore()
        if started_here and ray.is_initialized():
            ray.shutdown()
    if not seen.all():
        raise _missing(config, seen, start, "the Ray run returned no scores for them")
    return Predictions(log_probs=log_probs, labels=log_probs.argmax(axis=1).astype(np.int64))


class _Quiet:
    """Ray's loggers at WARNING while a run is under way, as they were after."""

    def __init__(self) -> None:
        self.levels = {name: logging.getLogger(name).level for name in ("ray", "ray.data")}
        for name in self.levels:
            logging.getLogger(name).setLevel(logging.WARNING)

    def restore(self) -> None:
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)


def _default_workers(resources: dict[str, Any], inference: Any) -> int:
    """As many workers as the cluster's CPUs (or GPUs, at num_gpus_per_worker each) allow."""
    if inference.num_gpus_per_worker:
        return max(1, int(resources.get("GPU", 0) // inference.num_gpus_per_worker))
    return max(1, int(resources.get("CPU", 1)))


def _carried(exc: ModelgateError) -> RuntimeError:
    """A worker's ModelgateError as text that survives Ray's wrapping (Ray keeps a worker's
    exception message, not the exception object)."""
    fields = {
        "class": type(exc).__name__,
        "message": exc.message,
        "file": exc.file,
        "key": exc.key,
        "line": exc.line,
        "hint": exc.hint,
    }
    return RuntimeError(_CARRIED + json.dumps(fields))


def _uncarried(text: str) -> ModelgateError | None:
    """The ModelgateError `_carried` put into a Ray error's message, if any."""
    from modelgate import errors

    at = text.find(_CARRIED)
    if at < 0:
        return None
    try:
        fields, _ = json.JSONDecoder().raw_decode(text, at + len(_CARRIED))
        kind = getattr(errors, str(fields["class"]), None)
        if not (isinstance(kind, type) and issubclass(kind, ModelgateError)):
            return None
        return kind(
            str(fields["message"]),
            file=fields.get("file"),
            key=fields.get("key"),
            line=fields.get("line"),
            hint=fields.get("hint"),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _undecided(exc: BaseException, config: Config, seen: np.ndarray, start: int) -> Exception:
    """The user's error a Ray worker raised (a model that returns NaN reads as it does locally),
    else a ShardError naming the canaries that were never predicted."""
    carried = _uncarried(str(exc))
    if carried is not None:
        return carried
    text = str(exc).strip().splitlines()
    return _missing(
        config, seen, start, f"the Ray run failed ({type(exc).__name__}: {text[0] if text else ''})"
    )


def _missing(config: Config, seen: np.ndarray, start: int, why: str) -> ShardError:
    gaps = np.flatnonzero(~seen)
    first = start + int(gaps[0]) if len(gaps) else start
    return ShardError(
        f"{why}: {len(gaps)} canaries not predicted (first: position {first}); nothing decided",
        file=config.path,
        key="inference.engine",
        hint="see the Ray worker logs; a worker that dies is restarted and retried "
        f"{_RETRIES} times",
    )
