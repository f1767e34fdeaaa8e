"""JSON codec for frozen state dataclasses, so faust tables persist state without pickle.

Two layouts of the same JSON: named (a dataclass is an object, datetimes are ISO-8601; readable, the format
of states written before 2026-11-25) and compact (a dataclass is an array of its field values in declaration
order with trailing defaults left out, a whole-second UTC datetime is epoch seconds; about half the bytes).
Fields marked `metadata={"transient": True}` are in-memory caches: compact leaves them out (named writes every field).
Decoders are compiled once per type and layout (a closure tree), so loading a state costs no typing
introspection; named encoding lets orjson walk dataclasses natively.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import operator
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any, Final, TypeVar

import orjson

T = TypeVar("T")
Decoder = Callable[[Any], Any]


class StateCodecError(ValueError):
    """Raised when stored state bytes do not fit the state type (a bug or a schema change)."""


def dumps(obj: Any) -> bytes:
    """Serializes a dataclass tree to JSON bytes (datetimes as ISO-8601 with offset, enums as values)."""
    return orjson.dumps(obj, default=_to_plain)


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, typing.Mapping):
        return dict(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    raise TypeError(f"cannot serialize {type(obj).__name__}")


def loads(raw: bytes, cls: type[T]) -> T:
    """Rebuilds a dataclass tree of type cls from dumps() output."""
    try:
        return typing.cast(T, decoder(typing.cast(Any, cls))(orjson.loads(raw)))
    except (TypeError, ValueError, KeyError) as exc:
        raise StateCodecError(f"cannot load {cls.__name__}: {exc}") from exc


_COMPACT: Final = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_NO_DEFAULT: Final = object()


def dumps_compact(obj: Any) -> bytes:
    """Serializes a dataclass tree (or a tuple/list holding some) in the compact layout."""
    return orjson.dumps(obj, default=_to_compact, option=_COMPACT)


def loads_compact(raw: bytes, tp: Any) -> Any:
    """Rebuilds a value of type tp (a dataclass, or e.g. tuple[int, SomeState]) from dumps_compact() output."""
    try:
        return compact_decoder(tp)(orjson.loads(raw))
    except (TypeError, ValueError, KeyError) as exc:
        raise StateCodecError(f"cannot load {getattr(tp, '__name__', tp)}: {exc}") from exc


def _to_compact(obj: Any) -> Any:
    encode = _ENCODERS.get(type(obj))
    if encode is None:
        if isinstance(obj, datetime):
            encode = _datetime_compact
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            encode = _compact_encoder(type(obj))
        else:
            return _to_plain(obj)
        _ENCODERS[type(obj)] = encode
    return encode(obj)


_ENCODERS: dict[type, Callable[[Any], Any]] = {}


def _datetime_compact(obj: datetime) -> int | str:
    if obj.tzinfo is UTC and not obj.microsecond:
        return int(obj.timestamp())
    return obj.isoformat()


def _compact_encoder(cls: type) -> Callable[[Any], list[Any]]:
    """Field values in order, transient fields left out, trailing values equal to their default dropped."""
    kept = [f for f in dataclasses.fields(cls) if not f.metadata.get("transient")]
    names = [f.name for f in kept]
    defaults = [f.default if f.default is not dataclasses.MISSING
                else f.default_factory() if f.default_factory is not dataclasses.MISSING else _NO_DEFAULT
                for f in kept]
    if not names:
        return lambda _obj: []
    getter = operator.attrgetter(*names)
    many = len(names) > 1

    def encode(obj: Any) -> list[Any]:
        values = list(getter(obj)) if many else [getter(obj)]
        n = len(values)
        while n and defaults[n - 1] is not _NO_DEFAULT and values[n - 1] == defaults[n - 1]:
            n -= 1
        del values[n:]
        return values

    return encode


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def decoder(tp: Any) -> Decoder:
    """The compiled decoder of one type: plain JSON data -> the typed value (raises TypeError/ValueError)."""
    return _build(tp, False)


@cache
def compact_decoder(tp: Any) -> Decoder:
    """decoder() for the compact layout: dataclasses from arrays, datetimes also from epoch seconds."""
    return _build(tp, True)


def _of(tp: Any, compact: bool) -> Decoder:
    return compact_decoder(tp) if compact else decoder(tp)


def _build(tp: Any, compact: bool) -> Decoder:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return _identity
    if origin in (typing.Union, types.UnionType):
        return _union(tp, args, compact)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _positional(tp) if compact else _dataclass(tp)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _of(args[0], compact)
            if compact:
                return _pairs(args[0], item) or (lambda data: tuple([item(x) for x in data]))
            return lambda data: tuple([item(x) for x in data])
        items = tuple(_of(a, compact) for a in args)
        if compact:
            return _fixed_tuple(args, items)
        return lambda data: tuple(dec(x) for dec, x in zip(items, data, strict=True))
    if origin in (dict, collections.abc.Mapping):
        key_t, val_t = args or (Any, Any)
        key_dec, val_dec = _of(key_t, compact), _of(val_t, compact)
        return lambda data: {key_dec(k): val_dec(v) for k, v in data.items()}
    if origin is typing.Literal:
        return _literal(args)
    if isinstance(tp, type):
        if compact and issubclass(tp, datetime):
            return _epoch_or_iso
        return _scalar(tp)
    raise TypeError(f"unsupported type {tp!r}")


def _epoch_or_iso(data: Any) -> datetime:
    if isinstance(data, int) and not isinstance(data, bool):
        return datetime.fromtimestamp(data, UTC)
    if not isinstance(data, str):
        raise TypeError("datetime must be epoch seconds or a string")
    return datetime.fromisoformat(data)


def _identity(data: Any) -> Any:
    return data


def _union(tp: Any, args: tuple[Any, ...], compact: bool) -> Decoder:
    optional = type(None) in args
    members = [_of(a, compact) for a in args if a is not type(None)]
    if len(members) == 1:
        (only,) = members
        return lambda data: None if data is None and optional else only(data)

    def decode(data: Any) -> Any:
        if data is None and optional:
            return None
        last: Exception | None = None
        for member in members:
            try:
                return member(data)
            except (TypeError, ValueError, KeyError) as exc:
                last = exc
        raise ValueError(f"no member of {tp} fits {data!r}: {last}")

    return decode


def _dataclass(tp: type) -> Decoder:
    hints = _hints(tp)
    # resolved lazily: a dataclass may refer to itself, and @cache must not recurse into its own entry
    fields = [(f.name, hints[f.name]) for f in dataclasses.fields(tp)]
    compiled: list[tuple[str, Decoder]] = []

    def decode(data: Any) -> Any:
        if not compiled:
            compiled.extend((name, decoder(hint)) for name, hint in fields)
        if not isinstance(data, dict):
            raise TypeError(f"{tp.__name__} must be an object, got {type(data).__name__}")
        return tp(**{name: dec(data[name]) for name, dec in compiled if name in data})

    return decode


class _NoFastPath:
    """A type no JSON value has: the slot's decoder always runs."""


def _exact(hint: Any) -> type:
    """The Python type a JSON value of this hint already is when it needs no conversion (str, int, float)."""
    return hint if hint in (str, int, float) else _NoFastPath


def _pairs(item_tp: Any, item: Decoder) -> Decoder | None:
    """A fast decoder for tuple[tuple[scalar, scalar], ...] (windows, counts); None for other item types."""
    if typing.get_origin(item_tp) is not tuple:
        return None
    parts = typing.get_args(item_tp)
    if len(parts) != 2 or _NoFastPath in (t0 := _exact(parts[0]), t1 := _exact(parts[1])):
        return None

    def decode(data: Any) -> tuple[Any, ...]:
        if type(data) is not list:
            raise TypeError(f"expected an array, got {type(data).__name__}")
        return tuple([(x[0], x[1]) if type(x) is list and len(x) == 2 and type(x[0]) is t0 and type(x[1]) is t1
                      else item(x) for x in data])

    return decode


def _fixed_tuple(args: tuple[Any, ...], items: tuple[Decoder, ...]) -> Decoder:
    spec = [(_exact(a), dec) for a, dec in zip(args, items, strict=True)]
    n = len(spec)

    def decode(data: Any) -> tuple[Any, ...]:
        if type(data) is not list or len(data) != n:
            raise ValueError(f"expected an array of {n}, got {data!r}")
        return tuple([v if type(v) is t else dec(v) for (t, dec), v in zip(spec, data, strict=True)])

    return decode


def _positional(tp: type) -> Decoder:
    hints = _hints(tp)
    all_fields = dataclasses.fields(tp)
    fields = [(f.name, hints[f.name]) for f in all_fields if not f.metadata.get("transient")]
    # transient fields only at the end: the kept values can be passed by position
    by_position = all(not f.metadata.get("transient") for f in all_fields[:len(fields)])
    compiled: list[tuple[str, type, Decoder]] = []

    def decode(data: Any) -> Any:
        if not compiled:
            compiled.extend((name, _exact(hint), compact_decoder(hint)) for name, hint in fields)
        if type(data) is not list:
            raise TypeError(f"{tp.__name__} must be an array, got {type(data).__name__}")
        if len(data) > len(compiled):
            raise ValueError(f"{tp.__name__} has {len(compiled)} fields, got {len(data)} values")
        if by_position:
            return tp(*[v if type(v) is t else dec(v) for (_, t, dec), v in zip(compiled, data, strict=False)])
        return tp(**{name: v if type(v) is t else dec(v) for (name, t, dec), v in zip(compiled, data, strict=False)})

    return decode


def _literal(args: tuple[Any, ...]) -> Decoder:
    def decode(data: Any) -> Any:
        if data not in args:
            raise ValueError(f"{data!r} not in {args}")
        return data

    return decode


def _scalar(tp: type) -> Decoder:
    if issubclass(tp, datetime):
        def as_datetime(data: Any) -> datetime:
            if not isinstance(data, str):
                raise TypeError("datetime must be a string")
            return datetime.fromisoformat(data)
        return as_datetime
    if issubclass(tp, Enum):
        return tp
    if tp is float:
        def as_float(data: Any) -> float:
            if isinstance(data, bool) or not isinstance(data, int | float):
                raise TypeError(f"expected float, got {type(data).__name__}")
            return float(data)
        return as_float
    if tp is bool:
        def as_bool(data: Any) -> bool:
            if not isinstance(data, bool):
                raise TypeError("expected bool")
            return data
        return as_bool
    if tp is int:
        def as_int(data: Any) -> int:
            if isinstance(data, bool) or not isinstance(data, int):
                raise TypeError("expected int")
            return data
        return as_int

    def exact(data: Any) -> Any:
        if not isinstance(data, tp):
            raise TypeError(f"expected {tp.__name__}, got {type(data).__name__}")
        return data

    return exact
