"""YAML config files validated by pydantic: reading them and turning validation errors into one line.

Recipes (:mod:`triage.recipes`) and policies (:mod:`triage.policy`) share this so that every config error
reads the same way: the file, then per problem the dotted key, what is wrong or allowed, and the value
found. An unknown key also lists the keys allowed there and the closest one.

Example:
    >>> from pydantic import BaseModel, ConfigDict, ValidationError
    >>> class Thresholds(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     review: float = 0.5
    ...     auto: float = 0.8
    >>> try:
    ...     Thresholds.model_validate({"reviw": 0.4})
    ... except ValidationError as exc:
    ...     print(validation_message(exc, Thresholds))
    reviw: Extra inputs are not permitted; allowed keys: review, auto; did you mean 'review'? (found 0.4)
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from triage.errors import TriageError

__all__ = ["read_yaml_mapping", "validation_message", "key_path"]


def key_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as the key a user wrote: ``intents.track_order.action``, ``events[0].start``.

    Example:
        >>> key_path(("crisis_events", 0, "start"))
        'crisis_events[0].start'
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _unwrap(annotation: Any) -> Any:
    """The model, dict or list type inside ``X | None`` and ``Annotated[X, ...]``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that validates the value at ``loc`` under ``model``, if one does."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin is dict and len(args) == 2:
            current = args[1]
        elif origin in (list, tuple, set, frozenset) and args:
            current = args[0]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        text = repr(value)
        return text if len(text) <= 80 else type(value).__name__
    return repr(value)


def _problem(item: dict[str, Any], model: type[BaseModel] | None, plain: bool) -> str:
    loc = tuple(item["loc"])
    message = item["msg"]
    if plain and message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if item["type"] == "extra_forbidden" and model is not None and loc:
        owner = _model_at(model, loc[:-1])
        if owner is not None:
            allowed = [name for name in owner.model_fields]
            message += "; allowed keys: " + ", ".join(allowed)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
    return f"{key_path(loc)}: {message} (found {_shown(item.get('input'))})"


def validation_message(error: ValidationError, model: type[BaseModel] | None = None, *, plain: bool = True) -> str:
    """Every problem of a pydantic ``ValidationError`` on one line, ``; ``-separated.

    Args:
        error: what ``model.model_validate`` raised.
        model: the root model, used to list the keys allowed where an unknown key was found.
        plain: drop pydantic's "Value error, " prefix from messages raised by validators (recipes keep
            it, as their messages always had it).
    """
    return "; ".join(_problem(item, model, plain) for item in error.errors())


def read_yaml_mapping(
    path: str | os.PathLike[str],
    *,
    kind: str,
    error: type[TriageError],
    example: str,
    missing_hint: str,
    keys: str,
) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; anything else raises ``error`` naming the file and the fix.

    Args:
        path: the file.
        kind: what the file is, for messages ("recipe", "policy").
        error: the exception class to raise.
        example: an example file path, for the is-a-folder message.
        missing_hint: where such files live, for the not-found message.
        keys: the top-level keys expected, for the not-a-mapping message.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder; pass a {kind} file such as {example}")
    if not path.is_file():
        raise error(f"{path}: {kind} file not found; {missing_hint}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping of {kind} keys ({keys}), found {type(raw).__name__}")
    return raw
