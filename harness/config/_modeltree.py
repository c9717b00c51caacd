"""Walk the pydantic model tree of a user-written file alongside its data (no I/O, no validation).

Used for what pydantic does not say by itself: the keys a mapping accepts (for "did you mean …?") and
where the data gives a bare number for a duration (``slo: {ttft: 1000}`` is 1000 s, not 1000 ms).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from harness._model import parse_duration

__all__ = ["allowed_keys", "duration_values", "suggest_key"]

PathKey = tuple[str | int, ...]


def _unwrap(tp: Any) -> list[Any]:
    """The alternatives a type stands for: Annotated stripped, unions split."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [x for arg in typing.get_args(tp) for x in _unwrap(arg)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _tags(part: str) -> list[str]:
    """Model names inside a validator tag: 'function-after[_needs(), FaultSpec]' → ['FaultSpec']."""
    inner = part[part.find("[") + 1 : -1] if part.endswith("]") and "[" in part else ""
    return [x.strip() for x in inner.split(",")[-1:]] if inner else []


def _step(candidates: list[Any], part: str | int) -> list[Any]:
    """The types found one step (a key or an index) below ``candidates``."""
    out: list[Any] = []
    named = [
        tp
        for tp in candidates
        if _is_model(tp) and isinstance(part, str) and tp.__name__ in (part, *_tags(part))
    ]
    if named:  # pydantic names the union member it tried: ('fault', 'FaultSpec', 'kindd')
        return named
    for tp in candidates:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if _is_model(tp) and isinstance(part, str):
            info = _field(tp, part)
            if info is not None:
                out += _unwrap(info.annotation)
        elif origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
            out += _unwrap(args[0])
        elif origin is dict and isinstance(part, str) and len(args) == 2:
            out += _unwrap(args[1])
    return out


def allowed_keys(model: type[BaseModel], loc: PathKey) -> list[str]:
    """The keys accepted by the mapping that holds ``loc[-1]`` (a pydantic error location)."""
    candidates: list[Any] = [model]
    for part in loc[:-1]:
        candidates = _step(candidates, part)
    keys: list[str] = []
    for tp in candidates:
        if _is_model(tp):
            keys += [info.alias or name for name, info in tp.model_fields.items()]
    return list(dict.fromkeys(keys))


def suggest_key(model: type[BaseModel], loc: PathKey) -> str | None:
    """The accepted key nearest to the unknown ``loc[-1]``, if one is close enough to be a typo."""
    if not loc or not isinstance(loc[-1], str):
        return None
    close = difflib.get_close_matches(loc[-1], allowed_keys(model, loc), n=1, cutoff=0.7)
    return close[0] if close else None


def _is_duration(info: FieldInfo) -> bool:
    metas = list(info.metadata)
    for tp in [info.annotation, *_unwrap_all(info.annotation)]:
        if typing.get_origin(tp) is typing.Annotated:
            metas += typing.get_args(tp)[1:]
    return any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in metas)


def _unwrap_all(tp: Any) -> list[Any]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return list(typing.get_args(tp))
    return []


def duration_values(model: type[BaseModel], data: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    """(path, value) of every duration field present in ``data`` (values as written, not parsed)."""
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        info = _field(model, key)
        if info is None:
            continue
        here = (*path, key)
        if _is_duration(info):
            yield here, value
            continue
        for tp in _unwrap(info.annotation):
            yield from _below(tp, value, here)


def _below(tp: Any, value: Any, path: PathKey) -> Iterator[tuple[PathKey, Any]]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if _is_model(tp) and isinstance(value, dict):
        yield from duration_values(tp, value, path)
    elif origin in (list, tuple) and isinstance(value, list) and args:
        for i, item in enumerate(value):
            for sub in _unwrap(args[0]):
                yield from _below(sub, item, (*path, i))
    elif origin is dict and isinstance(value, dict) and len(args) == 2:
        for k, item in value.items():
            for sub in _unwrap(args[1]):
                yield from _below(sub, item, (*path, str(k)))
