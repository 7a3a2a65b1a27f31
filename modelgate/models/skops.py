"""`format: skops`: a scikit-learn model saved with skops (optional extra `modelgate[skops]`).

skops rebuilds the object from a schema instead of unpickling it, and refuses every type that is
neither one of its safe defaults nor listed in the config's `trusted_types`: the config is the
reviewed list of what may be constructed. Plain pickle and joblib files are never opened.
Scores are `predict_proba` (probabilities) or `decision_function` (logits), in the suite's
class order (scikit-learn sorts `classes_`; same names in another order are mapped).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelgate.errors import ModelLoadError
from modelgate.models.interface import LoadRequest, ModelLoader, Predictor, first_line
from modelgate.result import ModelInfo

_INSTALL = 'pip install "modelgate[skops]" (skops, scikit-learn)'


class SkopsLoader(ModelLoader):
    name = "skops"
    carries_code = False

    def load(self, request: LoadRequest, info: ModelInfo) -> Predictor:
        try:
            import skops.io as sio
        except ImportError:
            raise ModelLoadError(
                "skops models need skops",
                file=request.path,
                key=request.at("format"),
                hint=_INSTALL,
            ) from None
        assert request.path is not None
        data = request.path.read_bytes()
        _refuse_a_zip_bomb(data, request)
        trusted = list(request.spec.trusted_types)
        try:
            untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted))
        except Exception as exc:
            raise ModelLoadError(
                f"not a skops file: {first_line(exc)}", file=request.path, key=request.at("path")
            ) from None
        if untrusted:
            shown = ", ".join(untrusted[:8]) + (
                f" and {len(untrusted) - 8} more" if len(untrusted) > 8 else ""
            )
            raise ModelLoadError(
                f"the file constructs types the config does not trust: {shown}",
                file=request.path,
                key=request.at("trusted_types"),
                hint="review them, then list them under trusted_types",
            )
        try:
            estimator = sio.loads(data, trusted=trusted)
        except Exception as exc:
            raise ModelLoadError(
                f"skops refused or failed to load the file: {type(exc).__name__}: "
                f"{first_line(exc)}",
                file=request.path,
                key=request.at("path"),
            ) from None
        method, output = _method(estimator, request)
        order = _class_order(estimator, request)
        return Predictor(info=info, score=_scorer(getattr(estimator, method), order), output=output)


# skops parses `schema.json` whole before it refuses anything: a member of spaces deflated a
# thousandfold (1 MiB on disk) took 2.6 GiB. A real schema is kilobytes; arrays live in members
# of their own, whose declared sizes are bounded by what a scikit-learn model plausibly holds.
_SCHEMA_MAX = 64 << 20
_MEMBERS_MAX = 8 << 30


def _refuse_a_zip_bomb(data: bytes, request: LoadRequest) -> None:
    """Refuse an archive whose declared member sizes are beyond the bounds, before inflating."""
    import io
    import zipfile

    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # not a zip at all: skops names that below
    schema = sum(m.file_size for m in members if m.filename == "schema.json")
    total = sum(m.file_size for m in members)
    if schema > _SCHEMA_MAX or total > _MEMBERS_MAX:
        what = f"schema.json of {schema:,} bytes" if schema > _SCHEMA_MAX else f"{total:,} bytes"
        raise ModelLoadError(
            f"not a plausible skops file: its members declare {what} once inflated",
            file=request.path,
            key=request.at("path"),
        )


def _method(estimator: Any, request: LoadRequest) -> tuple[str, str]:
    wanted = request.spec.method
    names = ("predict_proba", "decision_function") if wanted == "auto" else (wanted,)
    for name in names:
        if callable(getattr(estimator, name, None)):
            return name, "probs" if name == "predict_proba" else "logits"
    raise ModelLoadError(
        f"{type(estimator).__name__} has no {' or '.join(names)}",
        file=request.path,
        key=request.at("method"),
    )


def _class_order(estimator: Any, request: LoadRequest) -> np.ndarray | None:
    """Column index of each suite class in the estimator's output (None: already in order)."""
    classes = getattr(estimator, "classes_", None)
    if classes is None or request.classes is None:
        return None
    names = [c.item() if isinstance(c, np.generic) else c for c in list(classes)]
    suite = list(request.classes)
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in names):
        if [int(c) for c in names] == list(range(len(suite))):
            return None  # trained on class indices
    elif [str(c) for c in names] == suite:
        return None
    elif sorted(str(c) for c in names) == sorted(suite):
        by_name = {str(c): i for i, c in enumerate(names)}
        return np.array([by_name[c] for c in suite], dtype=np.int64)
    raise ModelLoadError(
        f"the estimator's classes {[str(c) for c in names][:10]} are not the suite's classes "
        f"{suite[:10]}",
        file=request.path,
        key=request.at("path"),
        hint="train on the suite's class names (or on their indices 0..K-1)",
    )


def _scorer(method: Any, order: np.ndarray | None) -> Any:
    def score(batch: Any) -> np.ndarray:
        x = batch if isinstance(batch, list) else np.asarray(batch).reshape(len(batch), -1)
        out = np.asarray(method(x), dtype=np.float64)
        if out.ndim == 1:  # a binary decision_function: the score of the second class
            out = np.stack([np.zeros_like(out), out], axis=1)
        return out if order is None else out[:, order]

    return score
