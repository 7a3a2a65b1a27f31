"""Load a model spec into a Predictor, safely: pick the format's loader, then apply the rules
every format shares.

Weights-only formats (safetensors, a torch file read with `weights_only=True`, plus the team's
own factory; Hugging Face folders with safetensors weights; ONNX graphs; skops files with an
explicit list of trusted types) run in-process. Formats that carry their author's code
(torch.export, TorchScript, a Python callable) are refused unless `allow_code: true`, and then
run in a resource-limited subprocess (`sandbox.py`). Nothing here ever unpickles an arbitrary
object, and no failure falls back to an unsafe load. In-process loading and every call of the
model run under `inference.timeout_s` (see `watchdog`); the sandbox enforces its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelgate.config import Config, ModelSpec
from modelgate.errors import ModelgateError, ModelLoadError
from modelgate.models.interface import LoadRequest, ModelLoader, Predictor
from modelgate.paths import resolved
from modelgate.result import ModelInfo
from modelgate.watchdog import deadline

# format -> (module, class): imported only when that format is loaded, so a heavy library
# (transformers, onnxruntime, skops) is imported by its own loader and nowhere else.
LOADERS: dict[str, tuple[str, str]] = {
    "state_dict": ("modelgate.models.state_dict", "StateDictLoader"),
    "export": ("modelgate.models.export", "ExportLoader"),
    "torchscript": ("modelgate.models.torchscript", "TorchScriptLoader"),
    "callable": ("modelgate.models.callable", "CallableLoader"),
    "huggingface": ("modelgate.models.huggingface", "HuggingFaceLoader"),
    "onnx": ("modelgate.models.onnx", "OnnxLoader"),
    "skops": ("modelgate.models.skops", "SkopsLoader"),
}
CODE_FORMATS = frozenset({"export", "torchscript", "callable"})
_EXTENSIONS = {
    ".safetensors": "state_dict",
    ".pt": "state_dict",
    ".pth": "state_dict",
    ".bin": "state_dict",
    ".pt2": "export",
    ".ts": "torchscript",
    ".jit": "torchscript",
    ".torchscript": "torchscript",
    ".onnx": "onnx",
    ".skops": "skops",
}
IN_PROCESS = "in-process"


def loader_for(fmt: str) -> ModelLoader:
    module_name, class_name = LOADERS[fmt]
    loader: ModelLoader = getattr(importlib.import_module(module_name), class_name)()
    return loader


def infer_format(spec: ModelSpec, folder: Path | None = None) -> str:
    if spec.format != "auto":
        return spec.format
    if spec.callable:
        return "callable"
    assert spec.path is not None
    if folder is not None and ((folder / spec.path) / "config.json").is_file():
        return "huggingface"
    found = _EXTENSIONS.get(Path(spec.path).suffix.lower())
    if found is None:
        raise ModelLoadError(
            f"cannot tell the format of {spec.path!r} from its extension",
            hint="set format: " + "|".join(LOADERS),
        )
    return found


def load_candidate(config: Config, classes: Sequence[str]) -> Predictor:
    """The config's candidate, bounded by `inference.timeout_s` and checked against the
    suite's `classes`: the one way the engine and attribution load the model under test."""
    return load_predictor(
        config.candidate,
        config.folder,
        config_file=config.path,
        key="candidate",
        timeout_s=config.settings.inference.timeout_s,
        classes=classes,
    )


def load_predictor(
    spec: ModelSpec,
    folder: Path,
    *,
    config_file: Path,
    key: str,
    timeout_s: float | None = None,
    classes: Sequence[str] | None = None,
) -> Predictor:
    """Load the model that `spec` (the config's `key`) names; paths resolve against `folder`.

    With `timeout_s`, loading and each later call of the model's score function are bounded;
    with `classes` (the suite's), a model that names its classes is checked against them."""
    fmt = infer_format_at(spec, folder, config_file, key)
    loader = loader_for(fmt)
    if loader.carries_code and not spec.allow_code:
        raise ModelLoadError(
            f"format {fmt!r} runs its author's code, and allow_code is false (the default)",
            file=config_file,
            key=f"{key}.allow_code",
            hint="ship a state dict (safetensors) and a reviewed factory, or set "
            "allow_code: true for a model whose code you trust",
        )
    path = resolved(folder / spec.path) if spec.path else None
    request = LoadRequest(
        spec=spec,
        folder=folder,
        path=path,
        config_file=config_file,
        key=key,
        classes=tuple(classes) if classes is not None else None,
        timeout_s=timeout_s,
    )
    info = _identify(loader, request)
    if loader.carries_code and spec.sandbox.enabled:
        from modelgate.models.sandbox import sandboxed

        return sandboxed(request, info)
    source = path if path is not None else config_file
    ran = IN_PROCESS if not loader.carries_code else f"{IN_PROCESS}, unconfined (sandbox off)"
    info = ModelInfo(info.path, info.format, info.sha256, info.carries_code, ran)
    try:
        with deadline(timeout_s, "loading the model", file=source):
            predictor = loader.load(request, info)
    except SystemExit as exc:
        raise _exited(exc, "loading", source, key) from None
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except ModelgateError:  # already names its file and key (a timeout, a loader's refusal)
        raise
    except BaseException as exc:  # Exception, and the BaseException subclasses models invent
        raise ModelLoadError(
            f"cannot load {fmt} model: {type(exc).__name__}: {_first_line(exc)}",
            file=source,
            key=f"{key}.path",
        ) from exc
    from dataclasses import replace

    return replace(predictor, score=_guarded(predictor.score, timeout_s, source, key))


def _identify(loader: ModelLoader, request: LoadRequest) -> ModelInfo:
    """The model's digest (after its signature, when the config asks for one)."""
    from modelgate.models.identity import model_sha256

    spec, path = request.spec, request.path
    sha = ""
    if path is not None:
        exists = path.is_dir() if loader.is_directory else path.is_file()
        if not exists:
            what = "model folder" if loader.is_directory else "model file"
            raise ModelLoadError(f"{what} not found", file=path, key=request.at("path"))
        if spec.signature is not None:
            from modelgate.models.signature import verify_model_signature

            verify_model_signature(request, path)
        try:
            sha = model_sha256(path)
        except ModelLoadError as exc:
            raise ModelLoadError(exc.message, file=path, key=request.at("path")) from None
    elif spec.signature is not None:
        raise ModelLoadError(
            "a signature needs a model file (path) to cover",
            file=request.config_file,
            key=request.at("signature"),
        )
    return ModelInfo(
        path=spec.path or spec.callable or "",
        format=loader.name,
        sha256=sha,
        carries_code=loader.carries_code,
    )


def _guarded(score: Any, seconds: float | None, source: Path, key: str) -> Any:
    """`score` under the deadline; a model calling sys.exit() must not end modelgate's run
    with the model's chosen exit code (`exit(0)` would read as a pass)."""

    def run(batch: Any) -> Any:
        try:
            with deadline(seconds, "the model scoring one batch", file=source):
                return score(batch)
        except SystemExit as exc:
            raise _exited(exc, "scoring a batch", source, key) from None
        except (Exception, KeyboardInterrupt, GeneratorExit):
            raise  # an Exception is named by the caller; Ctrl-C is the user's
        except BaseException as exc:  # exit 1 and a traceback from outside every handler
            raise _raised(exc, "scoring a batch", source, key) from None

    vocabulary = getattr(score, "vocabulary", None)
    if vocabulary is not None:  # the text probes sweep a model's own vocabulary
        run.vocabulary = vocabulary  # type: ignore[attr-defined]
    from modelgate.models.features import features_of, guarded_features

    features = features_of(score)
    if features is not None:  # a callable's opt-in to last-layer attribution

        def bounded(call: Any) -> Any:
            try:
                with deadline(seconds, "the model computing features", file=source):
                    return call()
            except SystemExit as exc:
                raise _exited(exc, "computing features", source, key) from None
            except (Exception, KeyboardInterrupt, GeneratorExit):
                raise
            except BaseException as exc:
                raise _raised(exc, "computing features", source, key) from None

        run.features = guarded_features(features, source, bounded)  # type: ignore[attr-defined]
    return run


def _raised(exc: BaseException, doing: str, source: Path, key: str) -> ModelLoadError:
    return ModelLoadError(
        f"the model raised {type(exc).__name__} while {doing}: {_first_line(exc)}",
        file=source,
        key=key,
    )


def _exited(exc: SystemExit, doing: str, source: Path, key: str) -> ModelLoadError:
    return ModelLoadError(
        f"the model called sys.exit({exc.code!r}) while {doing}: refused, nothing decided",
        file=source,
        key=key,
    )


def infer_format_at(spec: ModelSpec, folder: Path, config_file: Path, key: str) -> str:
    try:
        return infer_format(spec, folder)
    except ModelLoadError as exc:
        raise ModelLoadError(
            exc.message, file=config_file, key=f"{key}.path", hint=exc.hint
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
