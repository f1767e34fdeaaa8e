"""JSON codec for frozen state dataclasses, so faust tables persist state without pickle."""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


class StateCodecError(ValueError):
    """Raised when stored state bytes do not fit the state type (a bug or a schema change)."""


def dumps(obj: Any) -> bytes:
    """Serializes a dataclass tree to JSON bytes (datetimes as ISO-8601 with offset)."""
    return orjson.dumps(obj, option=orjson.OPT_PASSTHROUGH_DATACLASS, default=_to_plain)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, typing.Mapping):
        return dict(obj)
    raise TypeError(f"cannot serialize {type(obj).__name__}")


def loads(raw: bytes, cls: type[T]) -> T:
    """Rebuilds a dataclass tree of type cls from dumps() output."""
    try:
        return typing.cast(T, _build(cls, orjson.loads(raw)))
    except (TypeError, ValueError, KeyError) as exc:
        raise StateCodecError(f"cannot load {cls.__name__}: {exc}") from exc


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        last: Exception | None = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _build(arg, data)
            except (TypeError, ValueError, KeyError) as exc:
                last = exc
        raise ValueError(f"no member of {tp} fits {data!r}: {last}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {f.name: _build(hints[f.name], data[f.name]) for f in dataclasses.fields(tp) if f.name in data}
        return tp(**kwargs)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], item) for item in data)
        return tuple(_build(a, item) for a, item in zip(args, data, strict=True))
    if origin in (dict, collections.abc.Mapping):
        key_t, val_t = args or (Any, Any)
        return {_build(key_t, k): _build(val_t, v) for k, v in data.items()}
    if origin is typing.Literal:
        if data not in args:
            raise ValueError(f"{data!r} not in {args}")
        return data
    if isinstance(tp, type):
        if issubclass(tp, datetime):
            if not isinstance(data, str):
                raise TypeError("datetime must be a string")
            return datetime.fromisoformat(data)
        if issubclass(tp, Enum):
            return tp(data)
        if tp is float and isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
        if tp is bool and not isinstance(data, bool):
            raise TypeError("expected bool")
        if tp is int and (isinstance(data, bool) or not isinstance(data, int)):
            raise TypeError("expected int")
        if not isinstance(data, tp):
            raise TypeError(f"expected {tp.__name__}, got {type(data).__name__}")
        return data
    raise TypeError(f"unsupported type {tp!r}")
