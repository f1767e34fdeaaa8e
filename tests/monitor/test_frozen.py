"""quick_init builds the same frozen objects as the __init__ dataclasses writes, with the same signature, and
frozen.replace() gives what dataclasses.replace() gives."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from monitor import frozen
from monitor.frozen import quick_init


def make_classes():
    """The same class twice: once as dataclasses makes it, once with quick_init."""

    def define():
        @dataclass(frozen=True, slots=True)
        class Sample:
            name: str
            count: int = 0
            tags: tuple[str, ...] = field(default_factory=tuple)
            seen: list[int] = field(default_factory=list)
            total: float = field(default=0.0, compare=False)
            derived: int = field(default=7, init=False)

            def __post_init__(self) -> None:
                if self.count < 0:
                    raise ValueError("count must not be negative")

        return Sample

    return define(), quick_init(define())


@pytest.mark.parametrize(("args", "kwargs"), [
    (("a",), {}),
    (("a", 3), {}),
    (("a", 3, ("x", "y")), {"total": 2.5}),
    ((), {"name": "b", "seen": [1], "count": 4}),
])
def test_quick_init_builds_what_the_dataclass_init_builds(args, kwargs):
    plain, quick = make_classes()
    expected, built = plain(*args, **kwargs), quick(*args, **kwargs)
    assert dataclasses.asdict(built) == dataclasses.asdict(expected)
    assert [f.name for f in dataclasses.fields(quick)] == [f.name for f in dataclasses.fields(plain)]


def test_the_signature_is_the_dataclass_one():
    plain, quick = make_classes()
    assert str(inspect.signature(quick.__init__)) == str(inspect.signature(plain.__init__))
    assert quick.__init__.__qualname__.endswith("Sample.__init__")


def test_factories_give_each_object_its_own_value_and_post_init_still_checks():
    _, quick = make_classes()
    first, second = quick("a"), quick("b")
    assert first.seen == [] and first.seen is not second.seen
    with pytest.raises(ValueError, match="count must not be negative"):
        quick("a", -1)


def test_objects_stay_frozen():
    _, quick = make_classes()
    built = quick("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.count = 5  # type: ignore[misc]


def test_only_frozen_slotted_dataclasses_are_accepted():
    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(slots=True)
    class NotFrozen:
        x: int

    for cls in (NoSlots, NotFrozen, int):
        with pytest.raises(TypeError, match="frozen dataclass with slots=True"):
            quick_init(cls)

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        x: int

    with pytest.raises(TypeError, match="keyword-only"):
        quick_init(KeywordOnly)


@pytest.mark.parametrize("changes", [{}, {"count": 5}, {"name": "z", "tags": ("t",)}, {"seen": [9], "total": 1.5}])
def test_replace_gives_what_dataclasses_replace_gives(changes):
    plain, quick = make_classes()
    before = quick("a", 3, ("x",), [1], total=2.0)
    got = frozen.replace(before, **changes)
    want = dataclasses.replace(plain("a", 3, ("x",), [1], total=2.0), **changes)
    assert type(got) is quick and got is not before
    assert {f.name: getattr(got, f.name) for f in dataclasses.fields(got)} == {
        f.name: getattr(want, f.name) for f in dataclasses.fields(want)}


def test_replace_runs_post_init_and_refuses_what_dataclasses_refuses():
    _, quick = make_classes()
    with pytest.raises(ValueError, match="negative"):
        frozen.replace(quick("a"), count=-1)
    with pytest.raises(TypeError):
        frozen.replace(quick("a"), colour="red")
    with pytest.raises(TypeError):
        frozen.replace(quick("a"), derived=1)  # not an init field (dataclasses.replace: ValueError)


def test_replace_of_a_plain_dataclass_is_dataclasses_own():
    plain, _ = make_classes()
    assert frozen.replace(plain("a"), count=2) == plain("a", 2)
