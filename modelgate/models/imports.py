"""Resolve `module:function` and `path/to/file.py:function` references from a config."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelgate.errors import ModelLoadError
from modelgate.paths import resolved


def resolve_reference(reference: str, folder: Path, *, file: Path, key: str) -> Callable[..., Any]:
    """Import the function named by `reference`; the config's folder is the import root."""
    target, sep, name = reference.rpartition(":")
    if not sep or not target or not name:
        raise ModelLoadError(
            f"{reference!r} is not of the form module:function or file.py:function",
            file=file,
            key=key,
        )
    try:
        if target.endswith(".py"):
            module = _import_file(folder / target, file=file, key=key)
        else:
            module = _import_module(target, folder)
    except ModelLoadError:
        raise
    except ModuleNotFoundError as exc:
        raise ModelLoadError(
            f"module {target!r} not found ({exc.name!r} is missing)", file=file, key=key
        ) from exc
    except Exception as exc:  # the user's module raised while importing
        raise ModelLoadError(
            f"importing {target!r} failed: {type(exc).__name__}: {exc}", file=file, key=key
        ) from exc
    function = getattr(module, name, None)
    if function is None or not callable(function):
        raise ModelLoadError(f"{target!r} has no function {name!r}", file=file, key=key)
    return function


def _import_module(name: str, folder: Path) -> Any:
    added = str(folder) not in sys.path
    if added:
        sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    finally:
        if added:
            sys.path.remove(str(folder))


def _import_file(path: Path, *, file: Path, key: str) -> Any:
    if not path.is_file():
        raise ModelLoadError(f"{path} not found", file=file, key=key)
    module_name = f"modelgate_user_{abs(hash(str(resolved(path))))}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {path}", file=file, key=key)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # Let the file import its siblings, as it would when run as a script.
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        sys.path.remove(str(path.parent))
    return module
