# cython: language_level=3, auto_pickle=False
"""The compiled half of monitor.frozen: a base class with an __init__, and a replace(), that fill a frozen,
slotted dataclass's slots in C. Building a record through quick_init's generated __init__ cost 0.3-0.45 us of
interpreted Python a call, and a worker builds about a dozen records a reading; this costs 0.12-0.28 us (ninth
session).

Only built with the rest of the hot path (monitor.compiled); without a current build monitor.frozen keeps its
plain-Python __init__ and replace(). Both give the same objects (tests/monitor/test_frozen.py runs both).
"""

import dataclasses

from cpython.object cimport PyObject_GenericGetAttr, PyObject_GenericSetAttr


cdef object _MISSING = object()


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

    def __init__(self, str name, tuple names, tuple defaults, tuple rest_names, tuple rest_defaults, bint post_init):
        self.name, self.post_init = name, post_init
        self.names, self.defaults = names, defaults
        self.rest_names, self.rest_defaults = rest_names, rest_defaults


cdef inline object _default(object value):
    return (<Make>value).factory() if type(value) is Make else value


def required():
    """The marker a Spec's defaults hold for a field without a default (monitor.frozen builds the Spec)."""
    return _MISSING


cdef int _fill_rest(object obj, Spec spec) except -1:
    cdef Py_ssize_t i
    for i in range(len(spec.rest_names)):
        PyObject_GenericSetAttr(obj, spec.rest_names[i], _default(spec.rest_defaults[i]))
    return 0


cdef str _stray(Spec spec, dict kwargs, Py_ssize_t given):
    """The message Python itself gives for keywords an __init__ cannot take."""
    for key in kwargs:
        if key not in spec.names:
            return f"{spec.name}.__init__() got an unexpected keyword argument {key!r}"
        if spec.names.index(key) < given:
            return f"{spec.name}.__init__() got multiple values for argument {key!r}"
    return f"{spec.name}.__init__() got an unexpected keyword argument"


cdef class Frozen:
    """Base of the records whose __init__ is this one, in C (monitor.frozen.quick_init installs the spec)."""

    def __init__(self, *args, **kwargs):
        cdef Spec spec = <Spec?>type(self).__quick_spec__
        cdef tuple names = spec.names
        cdef tuple defaults = spec.defaults
        cdef Py_ssize_t n = len(names), given = len(args), found = 0, i
        if given > n:
            raise TypeError(f"{spec.name}.__init__() takes {n + 1} positional arguments but {given + 1} were given")
        for i in range(given):
            PyObject_GenericSetAttr(self, names[i], args[i])
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
            PyObject_GenericSetAttr(self, name, value)
        if kwargs and found != len(kwargs):
            raise TypeError(_stray(spec, kwargs, given))
        _fill_rest(self, spec)
        if spec.post_init:
            self.__post_init__()


def replace(obj, **changes):
    """monitor.frozen.replace() in C for the classes with this base: every init field changed or as it was,
    init=False fields from their defaults, __post_init__ run, a TypeError for a field it cannot take."""
    cls = type(obj)
    spec_of = getattr(cls, "__quick_spec__", None)
    if type(spec_of) is not Spec:
        quick = getattr(cls, "__quick_replace__", None)  # a quick_init class without this base
        return dataclasses.replace(obj, **changes) if quick is None else quick(obj, **changes)
    cdef Spec spec = <Spec>spec_of
    cdef tuple names = spec.names
    cdef Py_ssize_t n = len(names), found = 0, i
    new = cls.__new__(cls)
    for i in range(n):
        name = names[i]
        value = changes.get(name, _MISSING) if changes else _MISSING
        if value is _MISSING:
            value = PyObject_GenericGetAttr(obj, name)
        else:
            found += 1
        PyObject_GenericSetAttr(new, name, value)
    if changes and found != len(changes):  # an unknown field, or one with init=False: as the Python replace()
        raise TypeError(_stray(spec, changes, 0))
    _fill_rest(new, spec)
    if spec.post_init:
        new.__post_init__()
    return new
