"""Frozen, slotted dataclasses that are cheaper to build: a reading makes about a dozen of them, and the __init__
that dataclasses writes sets each field through object.__setattr__, the slowest way there is."""

from __future__ import annotations

import dataclasses
import inspect
from typing import TYPE_CHECKING, Any, Final, TypeVar

from monitor.compiled import compiled_module

T = TypeVar("T")


_C: Final = compiled_module("monitor.frozen_init")  # None without the compiled build


class _PlainFrozen:
    """The base without the compiled build: quick_init gives its subclasses a generated Python __init__."""

    __slots__ = ()


if TYPE_CHECKING:
    Frozen = _PlainFrozen
else:
    Frozen = _C.Frozen if _C is not None else _PlainFrozen
"""The base of the records quick_init speeds up: with the compiled build its __init__ and replace() are C
(monitor/frozen_init.pyx), 0.12-0.28 us a record instead of 0.3-0.45; without it, plain Python as before."""


class _Factory:
    """Stands for "use the field's default_factory" in a signature (dataclasses shows the same text)."""

    def __repr__(self) -> str:
        return "<factory>"


FACTORY: Final = _Factory()


def quick_init(cls: type[T]) -> type[T]:
    """Replaces the __init__ of a frozen, slotted dataclass by one that sets each slot through its descriptor:
    the same signature, defaults, factories and __post_init__, about twice as fast (tests/monitor/test_frozen.py).
    The instances stay frozen: only __init__ writes, as the one dataclasses writes does."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"quick_init needs a frozen dataclass with slots=True, not {cls.__name__}")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(f.kw_only for f in fields) or len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        raise TypeError(f"quick_init does not handle keyword-only fields or InitVars ({cls.__name__})")
    if _C is not None and issubclass(cls, _C.Frozen):  # the C __init__ and replace(): no Python source to write
        _install_compiled(cls, fields)
        return cls
    env: dict[str, Any] = {"FACTORY": FACTORY}
    args: list[str] = []
    body: list[str] = []
    for f in fields:
        env[f"set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's member descriptor
        if f.default is not dataclasses.MISSING:
            env[f"default_{f.name}"] = f.default
            value = f"default_{f.name}"
        elif f.default_factory is not dataclasses.MISSING:
            env[f"factory_{f.name}"] = f.default_factory
            value = f"factory_{f.name}()"
        else:
            value = ""
        if not f.init:
            body.append(f"    set_{f.name}(self, {value})")
        elif f.default_factory is not dataclasses.MISSING:
            args.append(f"{f.name}=FACTORY")
            body.append(f"    set_{f.name}(self, {value} if {f.name} is FACTORY else {f.name})")
        else:
            args.append(f"{f.name}={value}" if value else f.name)
            body.append(f"    set_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self{''.join(', ' + a for a in args)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, env)  # the technique dataclasses itself uses; the text comes from the class's own fields
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    setattr(cls, "__init__", init)  # noqa: B010 (mypy refuses assigning a method)
    setattr(cls, "__quick_replace__", _replacer(cls, fields))  # noqa: B010
    return cls


def _install_compiled(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> None:
    """Gives the class the compiled base's __init__ (its own removed, so the C slot is inherited), its spec, and a
    vectorcall that builds a record from positional arguments without type_call (frozen_init._construct)."""
    assert _C is not None

    def default(f: dataclasses.Field[Any]) -> Any:
        if f.default is not dataclasses.MISSING:
            return f.default
        if f.default_factory is not dataclasses.MISSING:
            return _C.Make(f.default_factory)
        return _C.required()

    init, rest = [f for f in fields if f.init], [f for f in fields if not f.init]
    signature = inspect.signature(cls.__dict__["__init__"])  # the one dataclasses wrote
    cls.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:])  # what inspect.signature(cls) shows, as before
    cls.__quick_spec__ = _C.Spec(  # type: ignore[attr-defined]
        cls.__qualname__, tuple(f.name for f in init), tuple(default(f) for f in init),
        tuple(f.name for f in rest), tuple(default(f) for f in rest), hasattr(cls, "__post_init__"), cls)
    delattr(cls, "__init__")
    _C.install_vectorcall(cls)  # a call by position skips type_call's tuple and dict (seventeenth session)


def _replacer(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Any:
    """replace() for one class: its constructor called with each init field, changed or as it was."""
    names = [f.name for f in fields if f.init]
    source = (f"def __quick_replace__(obj{''.join(f', {n}=KEEP' for n in names)}):\n"
              f"    return cls({', '.join(f'obj.{n} if {n} is KEEP else {n}' for n in names)})\n")
    env: dict[str, Any] = {"KEEP": _KEEP, "cls": cls}
    exec(source, env)  # as in quick_init: the text comes from the class's own fields
    return env["__quick_replace__"]


class _Keep:
    """Stands for "keep this field's value" in a generated replace()."""


_KEEP: Final = _Keep()


def _replace(obj: T, **changes: Any) -> T:
    """dataclasses.replace() for a quick_init class, about three times as fast (it inspects no fields per call);
    the same result, __post_init__ included, and the same TypeError for a field that is not there."""
    replacer = getattr(type(obj), "__quick_replace__", None)
    if replacer is None:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    return replacer(obj, **changes)  # type: ignore[no-any-return]


if TYPE_CHECKING:
    replace = _replace
else:
    replace = _C.replace if _C is not None else _replace
