"""quick_init builds the same frozen objects as the __init__ dataclasses writes, with the same signature, and
frozen.replace() gives what dataclasses.replace() gives: for a class of its own (a generated Python __init__) and
for one with the Frozen base (C, from monitor/frozen_init.pyx, when the compiled hot path is in use)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from monitor import compiled, frozen
from monitor.frozen import quick_init

_COMPILED = frozen.Frozen.__module__ == "monitor.frozen_init"
BASES = [pytest.param((object, True), id="own-base"), pytest.param((frozen.Frozen, True), id="Frozen-base"),
         pytest.param((frozen.Frozen, False), id="Frozen-base-descriptors",
                      marks=pytest.mark.skipif(not _COMPILED, reason="the compiled base is not in use"))]


@pytest.fixture(params=BASES)
def make_classes(request):
    """The same class twice: once as dataclasses makes it, once with quick_init (on each base; the C base writes
    the slots itself, or, for a class whose spec knows no slots, through the descriptors)."""
    return lambda: _classes(*request.param)


def _classes(base, direct):
    def define():
        @dataclass(frozen=True, slots=True)
        class Sample(base):
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

    quick = quick_init(define())
    if not direct:
        spec = quick.__quick_spec__
        quick.__quick_spec__ = type(spec)(spec.name, spec.names, spec.defaults, spec.rest_names, spec.rest_defaults,
                                          spec.post_init)
    assert getattr(getattr(quick, "__quick_spec__", None), "direct", direct) is direct
    return define(), quick


def test_the_base_is_the_compiled_one_with_the_compiled_build():
    assert _COMPILED is compiled.status().compiled


@pytest.mark.skipif(not _COMPILED, reason="the compiled base is not in use")
def test_every_record_of_the_hot_path_has_its_slots_written_directly():
    from monitor import dedup, engine, scoring, summary
    from monitor.rules_glucose import GlucoseState

    for cls in (engine.MonitorState, engine.Folded, engine.Buffered, engine.Step, scoring.PatientState,
                GlucoseState, dedup.Stream, summary.DayStats):
        assert cls.__quick_spec__.direct, cls


@pytest.mark.skipif(not _COMPILED, reason="the compiled base is not in use")
def test_an_unset_slot_read_by_replace_is_the_attribute_error_python_gives():
    _, quick = _classes(frozen.Frozen, True)
    empty = quick.__new__(quick)
    with pytest.raises(AttributeError, match="name"):
        frozen.replace(empty, count=1)


@pytest.mark.parametrize(("args", "kwargs"), [
    (("a",), {}),
    (("a", 3), {}),
    (("a", 3, ("x", "y")), {"total": 2.5}),
    ((), {"name": "b", "seen": [1], "count": 4}),
])
def test_quick_init_builds_what_the_dataclass_init_builds(make_classes, args, kwargs):
    plain, quick = make_classes()
    expected, built = plain(*args, **kwargs), quick(*args, **kwargs)
    assert dataclasses.asdict(built) == dataclasses.asdict(expected)
    assert [f.name for f in dataclasses.fields(quick)] == [f.name for f in dataclasses.fields(plain)]


def test_the_signature_is_the_dataclass_one(make_classes):
    plain, quick = make_classes()
    assert str(inspect.signature(quick)) == str(inspect.signature(plain))
    if quick.__init__ is not getattr(frozen.Frozen, "__init__", None):  # the C one is the base's, for every class
        assert str(inspect.signature(quick.__init__)) == str(inspect.signature(plain.__init__))
        assert quick.__init__.__qualname__.endswith("Sample.__init__")


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((), {}, "missing 1 required positional argument: 'name'"),
    (("a",), {"name": "b"}, "got multiple values for argument 'name'"),
    (("a",), {"colour": "red"}, "got an unexpected keyword argument 'colour'"),
    (("a",), {"derived": 1}, "got an unexpected keyword argument 'derived'"),
    (("a", 1, (), [], 0.0, 9), {}, "takes .*6 positional arguments but 7 were given"),
])
def test_wrong_arguments_are_the_type_errors_python_gives(make_classes, args, kwargs, message):
    plain, quick = make_classes()
    with pytest.raises(TypeError, match=message):
        plain(*args, **kwargs)
    with pytest.raises(TypeError, match=message):
        quick(*args, **kwargs)


@quick_init
@dataclass(frozen=True, slots=True)
class KeptOwn:
    name: str
    seen: list[int] = field(default_factory=list)
    derived: int = field(default=7, init=False)


@quick_init
@dataclass(frozen=True, slots=True)
class KeptFrozen(frozen.Frozen):
    name: str
    seen: list[int] = field(default_factory=list)
    derived: int = field(default=7, init=False)


@pytest.mark.parametrize("cls", [KeptOwn, KeptFrozen])
def test_objects_pickle_and_copy_as_dataclasses_do(cls):
    built = cls("a", [1])
    for twin in (pickle.loads(pickle.dumps(built)), copy.copy(built), copy.deepcopy(built)):
        assert type(twin) is cls and twin == built and twin.seen == [1] and twin.derived == 7


def test_factories_give_each_object_its_own_value_and_post_init_still_checks(make_classes):
    _, quick = make_classes()
    first, second = quick("a"), quick("b")
    assert first.seen == [] and first.seen is not second.seen
    with pytest.raises(ValueError, match="count must not be negative"):
        quick("a", -1)


def test_objects_stay_frozen(make_classes):
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
def test_replace_gives_what_dataclasses_replace_gives(make_classes, changes):
    plain, quick = make_classes()
    before = quick("a", 3, ("x",), [1], total=2.0)
    got = frozen.replace(before, **changes)
    want = dataclasses.replace(plain("a", 3, ("x",), [1], total=2.0), **changes)
    assert type(got) is quick and got is not before
    assert {f.name: getattr(got, f.name) for f in dataclasses.fields(got)} == {
        f.name: getattr(want, f.name) for f in dataclasses.fields(want)}


def test_replace_runs_post_init_and_refuses_what_dataclasses_refuses(make_classes):
    _, quick = make_classes()
    with pytest.raises(ValueError, match="negative"):
        frozen.replace(quick("a"), count=-1)
    with pytest.raises(TypeError):
        frozen.replace(quick("a"), colour="red")
    with pytest.raises(TypeError):
        frozen.replace(quick("a"), derived=1)  # not an init field (dataclasses.replace: ValueError)


def test_replace_of_a_plain_dataclass_is_dataclasses_own(make_classes):
    plain, _ = make_classes()
    assert frozen.replace(plain("a"), count=2) == plain("a", 2)


def test_fields_methods_and_missing_attributes_read_as_python_reads_them(make_classes):
    _, quick = make_classes()
    built = quick("a", 3)
    for _ in range(3):  # the first read teaches the C base's table, the next ones use it
        assert (built.name, built.count, built.derived, built.tags) == ("a", 3, 7, ())
    assert built.__class__ is quick
    assert built.__post_init__.__func__ is quick.__post_init__
    with pytest.raises(AttributeError, match="colour"):
        _ = built.colour
    with pytest.raises(AttributeError, match="name"):
        _ = quick.__new__(quick).name  # an unset slot


def test_a_field_read_follows_a_change_to_the_class(make_classes):
    """A read remembered for (class, field) is forgotten when the class changes (its version tag moves on)."""
    _, quick = make_classes()
    built = quick("a", 3)
    assert built.count == 3 and built.count == 3
    slot = quick.__dict__["count"]
    type.__setattr__(quick, "count", property(lambda self: 99))
    try:
        assert built.count == 99
    finally:
        type.__setattr__(quick, "count", slot)
    assert built.count == 3


@pytest.mark.skipif(not _COMPILED, reason="the compiled base is not in use")
def test_a_call_by_position_skips_type_call_only_where_it_builds_the_same_object():
    from monitor import frozen_init

    _, quick = _classes(frozen.Frozen, True)
    assert frozen_init.install_vectorcall(quick)  # quick_init installed it already; it may be installed again

    class Meta(type):
        pass

    class OwnMeta(frozen.Frozen, metaclass=Meta):
        __slots__ = ()

    class OwnNew(quick):
        __slots__ = ()

        def __new__(cls, *args, **kwargs):
            built = super().__new__(cls)
            object.__setattr__(built, "total", -1.0)
            return built

    assert not frozen_init.install_vectorcall(OwnMeta)  # its metaclass could have its own __call__
    assert not frozen_init.install_vectorcall(OwnNew)
    built = OwnNew("a", 3)  # type_call: its own __new__, then the base's __init__ (which sets total again)
    assert (type(built), built.name, built.count, built.total) == (OwnNew, "a", 3, 0.0)


@pytest.mark.parametrize(("args", "kwargs"), [(("a", 3, ("x",), [1], 2.5), {}), (("a",), {"count": 3})])
def test_a_subclass_of_a_quick_class_is_built_as_its_base_would_be(make_classes, args, kwargs):
    _, quick = make_classes()

    class Child(quick):
        __slots__ = ()

    built, base = Child(*args, **kwargs), quick(*args, **kwargs)
    assert type(built) is Child
    assert [getattr(built, f.name) for f in dataclasses.fields(quick)] == [
        getattr(base, f.name) for f in dataclasses.fields(quick)]
