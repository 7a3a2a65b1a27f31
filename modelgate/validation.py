"""pydantic validation of YAML files, turned into one-line errors that name file, line and key."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, ValidationError

from modelgate.yamlfile import LocatedYaml

TestMode = Literal["fail", "warn", "off"]  # what a check's failure does to the verdict


class StrictModel(BaseModel):
    """Base of every file schema: unknown keys are errors and nothing is coerced."""

    # strict: YAML 1.1 turns `no` into False and `1.10` into 1.1; never coerce those silently.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# pydantic puts union member tags into loc ("str", "ModelSpec", "literal['all']"); not keys.
_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "list", "dict"})


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    keys = [
        str(p)
        for p in loc
        if not (
            isinstance(p, str)
            and (p[:1].isupper() or p in _UNION_TAGS or "[" in p or p.startswith("function-"))
        )
    ]
    return ".".join(keys)


def _model_at(root: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc`, for did-you-mean suggestions."""
    current: Any = root
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap_model(field.annotation)
        if current is None:
            return None
        if current is dict:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_model(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _unwrap_model(arg)
            if found is not None:
                return found
        return None
    if origin is Annotated:
        return _unwrap_model(typing.get_args(annotation)[0])
    if origin is dict:
        return dict
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _describe(error: Any, root: type[BaseModel]) -> tuple[str, str]:
    loc = tuple(error["loc"])
    key_path = _loc_to_path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = key_path.rsplit(".", 1)[0] if "." in key_path else ""
        model = _model_at(root, parent.split(".") if parent else [])
        bad = key_path.rsplit(".", 1)[-1]
        message = "unknown key"
        if model is not None:
            close = difflib.get_close_matches(bad, list(model.model_fields), n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
            else:
                message += f"; allowed: {', '.join(sorted(model.model_fields))}"
        return key_path, message
    if kind == "missing":
        return key_path, "required key is missing"
    if kind == "literal_error" and key_path == "version":
        return key_path, f"unsupported version {error.get('input')!r}; {error['msg'].lower()}"
    message = error["msg"]
    value = error.get("input")
    if kind in {"string_type"} and isinstance(value, (bool, int, float)):
        message += f" (YAML read {value!r}; quote it)"
    if kind == "date_type" and isinstance(value, str):
        message += " (write the date unquoted: expires: 2027-01-31)"
    if kind == "literal_error" and isinstance(value, bool):
        message += f" (YAML read the boolean {str(value).lower()}; quote the word)"
    return key_path, message[0].lower() + message[1:]


def _first_error(
    exc: ValidationError, root: type[BaseModel], words: dict[str, str]
) -> tuple[str, str, str | None, int]:
    errors = exc.errors()
    # Prefer the most specific message: unions report one error per member; skip the str one.
    # A YAML 1.1 word behind an error explains it best: the user wrote a word, YAML read a bool.
    ranked = sorted(
        errors,
        key=lambda e: (
            _loc_to_path(tuple(e["loc"])) not in words,
            e["type"] != "extra_forbidden",
            e["type"] == "string_type",
            -len(e["loc"]),
        ),
    )
    key_path, message = _describe(ranked[0], root)
    hint = None
    if key_path in words:
        message, hint = _yaml11(words[key_path])
    return key_path, message, hint, len({_loc_to_path(tuple(e["loc"])) for e in errors}) - 1


def _yaml11(word: str) -> tuple[str, str]:
    """The message and hint for a YAML 1.1 boolean word (`no`, `off`, `Yes`) in a typed field."""
    return (
        f"YAML 1.1 reads the unquoted word {word!r} as a boolean, so modelgate refuses it",
        f'quote it ("{word}") if you mean the word; write true or false for a boolean',
    )


def _value_at(value: Any, parts: list[str]) -> Any:
    """The validated value at a key path, or `_MISSING` when the path leads nowhere."""
    for part in parts:
        if isinstance(value, BaseModel) and part in type(value).model_fields:
            value = getattr(value, part)
        elif isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


_MISSING = object()


def validate_mapping(located: LocatedYaml, model: type[BaseModel], error: type[Any]) -> Any:
    """Validate parsed YAML against `model`; the first problem becomes a one-line `error`.

    A YAML 1.1 boolean word that validation took as a boolean (`allow_code: no`) is refused
    too: only `true` and `false` are booleans, so nothing depends on which YAML a reader speaks.
    """
    if not isinstance(located.data, dict):
        raise error("must be a YAML mapping of keys to values", file=located.path, line=1)
    words = located.yaml11_words
    try:
        parsed = model.model_validate(located.data)
    except ValidationError as exc:
        key_path, message, hint, others = _first_error(exc, model, words)
        if others > 0:
            message += f" ({others} other error{'s' if others > 1 else ''})"
        raise error(
            message,
            file=located.path,
            key=key_path or None,
            line=located.line_of(key_path),
            hint=hint,
        ) from None
    for key_path, word in sorted(words.items(), key=lambda kv: located.line_of(kv[0]) or 0):
        if isinstance(_value_at(parsed, key_path.split(".")), bool):
            message, hint = _yaml11(word)
            raise error(
                message, file=located.path, key=key_path, line=located.line_of(key_path), hint=hint
            )
    return parsed
