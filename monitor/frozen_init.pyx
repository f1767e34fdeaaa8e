# cython: language_level=3, auto_pickle=False
"""The compiled half of monitor.frozen: a base class with an __init__, and a replace(), that fill a frozen,
slotted dataclass's slots in C, and a field read that goes straight to the slot. Building a record through
quick_init's generated __init__ cost 0.3-0.45 us of interpreted Python a call, and a worker builds about a dozen
records a reading; this costs 0.12-0.28 us (ninth session). Writing and reading the slots directly took a further
7 % and 5 % of a reading's instructions (tenth session). A record class called by position is built by a
vectorcall of its own, without type_call's argument tuple and keyword dict (seventeenth session: 211 -> 148 ns).

Only built with the rest of the hot path (monitor.compiled); without a current build monitor.frozen keeps its
plain-Python __init__ and replace(). Both give the same objects (tests/monitor/test_frozen.py runs both).
"""

import dataclasses
import types

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject, PyObject_GenericGetAttr, PyObject_GenericSetAttr, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF


cdef extern from "Python.h":
    """
    #include "structmember.h"
    #include "descrobject.h"
    """
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    PyObject *_PyType_Lookup(PyTypeObject *type, PyObject *name)  # borrowed; the type's method cache
    int T_OBJECT_EX
    int READONLY
    ctypedef struct TypeTag "PyTypeObject":
        unsigned long tp_flags
        unsigned int tp_version_tag  # changes whenever the type or a base is modified
    unsigned long Py_TPFLAGS_VALID_VERSION_TAG
    PyTypeObject *Py_TYPE(object)
    bint PyUnicode_CheckExact(object)
    ctypedef PyObject *(*vectorcallfunc)(PyObject *, PyObject **, size_t, PyObject *)
    ctypedef object (*newfunc)(PyTypeObject *, PyObject *, PyObject *)
    ctypedef struct CallSlots "PyTypeObject":
        vectorcallfunc tp_vectorcall  # how the class itself is called, when set (never inherited)
        newfunc tp_new
    Py_ssize_t PyVectorcall_NARGS(size_t nargsf)


cdef object _MISSING = object()
cdef object _MEMBER = types.MemberDescriptorType  # a C global: `types.X` is a module lookup a read
cdef str _SPEC = "__quick_spec__"


cdef class Make:
    """A field's default_factory, told apart from a default value in a class's spec."""

    cdef readonly object factory

    def __init__(self, factory):
        self.factory = factory


cdef class Spec:
    """What __init__ and replace() need of a class, taken once when quick_init sees it."""

    cdef readonly tuple names  # the init fields, in signature order
    cdef readonly tuple defaults  # each one's default, a Make, or _MISSING when required
    cdef readonly tuple rest_names  # the fields with init=False
    cdef readonly tuple rest_defaults
    cdef readonly bint post_init
    cdef readonly str name
    cdef Py_ssize_t *offsets  # each init field's slot, then each rest field's; NULL: set through the descriptors

    def __init__(self, str name, tuple names, tuple defaults, tuple rest_names, tuple rest_defaults, bint post_init,
                 type cls=None):
        self.name, self.post_init = name, post_init
        self.names, self.defaults = names, defaults
        self.rest_names, self.rest_defaults = rest_names, rest_defaults
        if cls is not None:
            self.offsets = _slot_offsets(cls, names + rest_names)

    def __dealloc__(self):
        PyMem_Free(self.offsets)

    @property
    def direct(self):
        """Whether __init__ and replace() write the slots themselves (every field a plain object slot)."""
        return self.offsets != NULL


cdef Py_ssize_t *_slot_offsets(type cls, tuple names) except? NULL:
    """Where each field's slot sits in an instance, or NULL when one is not a plain writable object slot (then
    the descriptors do the work, as object.__setattr__ would). Writing a slot directly skips a type lookup and two
    calls a field: the C __init__ spent most of its time there (tenth session)."""
    cdef Py_ssize_t i, n = len(names)
    cdef PyMemberDef *member
    if n == 0:
        return NULL
    found = []
    for name in names:
        descr = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        if type(descr) is not _MEMBER:
            return NULL
        member = (<PyMemberDescrObject *><PyObject *>descr).d_member
        if member.type != T_OBJECT_EX or member.flags & READONLY:
            return NULL
        found.append(member.offset)
    cdef Py_ssize_t *offsets = <Py_ssize_t *>PyMem_Malloc(n * sizeof(Py_ssize_t))
    if offsets == NULL:
        raise MemoryError()
    for i in range(n):
        offsets[i] = found[i]
    return offsets


cdef inline void _put(object obj, Py_ssize_t offset, object value) noexcept:
    """What the slot's descriptor does on a set: the new value in, the old one (if any) released."""
    cdef PyObject **slot = <PyObject **>((<char *><PyObject *>obj) + offset)
    cdef PyObject *old = slot[0]
    Py_INCREF(value)
    slot[0] = <PyObject *>value
    Py_XDECREF(old)


cdef inline object _get(object obj, Py_ssize_t offset, str name):
    cdef PyObject *value = (<PyObject **>((<char *><PyObject *>obj) + offset))[0]
    if value == NULL:
        return PyObject_GenericGetAttr(obj, name)  # an unset slot: the AttributeError Python gives
    return <object>value


cdef inline Spec _spec_of(type cls):
    """The class's Spec through the type's method cache (a plain `cls.__quick_spec__` costs a metatype lookup)."""
    cdef PyObject *spec = _PyType_Lookup(<PyTypeObject *>cls, <PyObject *>_SPEC)
    if spec == NULL or type(<object>spec) is not Spec:
        return None
    return <Spec>spec


cdef inline object _default(object value):
    return (<Make>value).factory() if type(value) is Make else value


def required():
    """The marker a Spec's defaults hold for a field without a default (monitor.frozen builds the Spec)."""
    return _MISSING


cdef inline int _set(object obj, Spec spec, Py_ssize_t i, object name, object value) except -1:
    """Sets field `i` (init fields first, then the init=False ones) in its slot, or through its descriptor."""
    if spec.offsets != NULL:
        _put(obj, spec.offsets[i], value)
    else:
        PyObject_GenericSetAttr(obj, name, value)
    return 0


cdef int _fill_rest(object obj, Spec spec) except -1:
    cdef Py_ssize_t i, first = len(spec.names)
    for i in range(len(spec.rest_names)):
        _set(obj, spec, first + i, spec.rest_names[i], _default(spec.rest_defaults[i]))
    return 0


cdef str _stray(Spec spec, dict kwargs, Py_ssize_t given):
    """The message Python itself gives for keywords an __init__ cannot take."""
    for key in kwargs:
        if key not in spec.names:
            return f"{spec.name}.__init__() got an unexpected keyword argument {key!r}"
        if spec.names.index(key) < given:
            return f"{spec.name}.__init__() got multiple values for argument {key!r}"
    return f"{spec.name}.__init__() got an unexpected keyword argument"


cdef struct SlotEntry:
    PyTypeObject *tp
    unsigned int version  # the type's version tag when the entry was made
    PyObject *name  # a strong reference: the pointer cannot be reused while the entry holds it
    Py_ssize_t offset


cdef enum:
    SLOT_ENTRIES = 4096  # a power of two; a collision only costs a slow lookup (~200 pairs are hot)
cdef SlotEntry _slots[SLOT_ENTRIES]


cdef inline SlotEntry *_entry(PyTypeObject *tp, object name) noexcept:
    cdef size_t h = (((<size_t>tp) >> 4) ^ ((<size_t><PyObject *>name) >> 4)) * <size_t>0x9E3779B97F4A7C15u
    return &_slots[h >> (8 * sizeof(size_t) - 12)]  # the top 12 bits: SLOT_ENTRIES == 1 << 12


cdef object _read_field(object obj, object name):
    """obj.name for a record: a field read straight from its slot when this (type, name) was seen before and the
    type has not changed since, else Python's own lookup (which then teaches the table the field's slot).

    A record field is a member descriptor, a data descriptor, so Python's lookup always ends in that slot too;
    this skips its type lookup and three calls. A reading reads about 190 attributes (tenth session)."""
    cdef PyTypeObject *tp = Py_TYPE(obj)
    cdef SlotEntry *e = _entry(tp, name)
    cdef PyObject *value
    if e.name == <PyObject *>name and e.tp == tp and e.version == (<TypeTag *>tp).tp_version_tag:
        value = (<PyObject **>((<char *><PyObject *>obj) + e.offset))[0]
        if value != NULL:
            return <object>value
    found = PyObject_GenericGetAttr(obj, name)
    _learn(tp, name, e)
    return found


cdef void _learn(PyTypeObject *tp, object name, SlotEntry *e) noexcept:
    """Remembers where a field's slot is, if `name` is a plain object slot of the type (nothing else is cached)."""
    if not PyUnicode_CheckExact(name):
        return
    cdef PyObject *descr = _PyType_Lookup(tp, <PyObject *>name)  # also gives the type a valid version tag
    if descr == NULL or type(<object>descr) is not _MEMBER:
        return
    if not (<TypeTag *>tp).tp_flags & Py_TPFLAGS_VALID_VERSION_TAG:
        return
    cdef PyMemberDef *member = (<PyMemberDescrObject *>descr).d_member
    if member.type != T_OBJECT_EX:
        return
    Py_INCREF(name)
    Py_XDECREF(e.name)
    e.tp, e.version, e.name, e.offset = tp, (<TypeTag *>tp).tp_version_tag, <PyObject *>name, member.offset


cdef class Frozen:
    """Base of the records whose __init__ is this one, in C (monitor.frozen.quick_init installs the spec)."""

    def __getattribute__(self, name):
        return _read_field(self, name)

    def __init__(self, *args, **kwargs):
        cdef Spec spec = _spec_of(type(self))
        if spec is None:
            raise TypeError(f"{type(self).__qualname__} has no quick_init spec")
        cdef tuple names = spec.names
        cdef tuple defaults = spec.defaults
        cdef Py_ssize_t n = len(names), given = len(args), found = 0, i
        if given > n:
            raise TypeError(_too_many(spec, given))
        for i in range(given):
            _set(self, spec, i, names[i], args[i])
        for i in range(given, n):
            name = names[i]
            value = kwargs.get(name, _MISSING) if kwargs else _MISSING
            if value is _MISSING:
                value = defaults[i]
                if value is _MISSING:
                    raise TypeError(f"{spec.name}.__init__() missing 1 required positional argument: {name!r}")
                value = _default(value)
            else:
                found += 1
            _set(self, spec, i, name, value)
        if kwargs and found != len(kwargs):
            raise TypeError(_stray(spec, kwargs, given))
        _fill_rest(self, spec)
        if spec.post_init:
            self.__post_init__()


cdef str _too_many(Spec spec, Py_ssize_t given):
    return f"{spec.name}.__init__() takes {len(spec.names) + 1} positional arguments but {given + 1} were given"


cdef tuple _EMPTY = ()
_TYPE_CALL = type.__call__  # type_call itself: tp_new, then tp_init, whatever the class's tp_vectorcall is


cdef object _construct(object cls, PyObject **args, size_t nargsf, PyObject *kwnames):
    """The class's vectorcall: a call by position builds the record from the arguments as they lie, where
    type_call would pack them in a tuple and a keyword dict (Cython's __init__ wrapper makes one even when none
    is given) before calling tp_new and tp_init. The same object and the same errors as Frozen.__init__; a call
    with keywords goes through type_call as before."""
    cdef Py_ssize_t given = PyVectorcall_NARGS(nargsf), i
    cdef Spec spec = _spec_of(cls)
    if kwnames != NULL or spec is None:
        names = () if kwnames == NULL else <tuple><object>kwnames
        return _TYPE_CALL(cls, *[<object>args[i] for i in range(given)],
                          **{names[i]: <object>args[given + i] for i in range(len(names))})
    cdef tuple defaults = spec.defaults
    cdef Py_ssize_t n = len(defaults)
    if given > n:
        raise TypeError(_too_many(spec, given))
    obj = (<CallSlots *><PyObject *>cls).tp_new(<PyTypeObject *><PyObject *>cls, <PyObject *>_EMPTY, NULL)
    for i in range(given):
        _set(obj, spec, i, spec.names[i], <object>args[i])
    for i in range(given, n):
        value = defaults[i]
        if value is _MISSING:
            raise TypeError(f"{spec.name}.__init__() missing 1 required positional argument: {spec.names[i]!r}")
        _set(obj, spec, i, spec.names[i], _default(value))
    _fill_rest(obj, spec)
    if spec.post_init:
        obj.__post_init__()
    return obj


def install_vectorcall(cls):
    """Lets calls of a quick_init class skip type_call (see _construct); only for a class of the plain metaclass
    whose __new__ and __init__ are this base's, with its spec in place. Returns whether it was installed."""
    if (type(cls) is not type or _spec_of(cls) is None or cls.__init__ is not Frozen.__init__
            or cls.__new__ is not Frozen.__new__):
        return False
    (<CallSlots *><PyObject *>cls).tp_vectorcall = <vectorcallfunc><void *>_construct
    return True


def replace(obj, **changes):
    """monitor.frozen.replace() in C for the classes with this base: every init field changed or as it was,
    init=False fields from their defaults, __post_init__ run, a TypeError for a field it cannot take."""
    cls = type(obj)
    cdef Spec spec = _spec_of(cls)
    if spec is None:
        quick = getattr(cls, "__quick_replace__", None)  # a quick_init class without this base
        return dataclasses.replace(obj, **changes) if quick is None else quick(obj, **changes)
    cdef tuple names = spec.names
    cdef Py_ssize_t n = len(names), found = 0, i
    new = cls.__new__(cls)
    for i in range(n):
        name = names[i]
        value = changes.get(name, _MISSING) if changes else _MISSING
        if value is _MISSING:
            value = _get(obj, spec.offsets[i], name) if spec.offsets != NULL else PyObject_GenericGetAttr(obj, name)
        else:
            found += 1
        _set(new, spec, i, name, value)
    if changes and found != len(changes):  # an unknown field, or one with init=False: as the Python replace()
        raise TypeError(_stray(spec, changes, 0))
    _fill_rest(new, spec)
    if spec.post_init:
        new.__post_init__()
    return new
