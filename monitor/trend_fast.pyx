# cython: language_level=3, auto_pickle=False
"""The compiled half of monitor.trend's rate of change: the common run of the last four CGM points in C.

`trend.rate_per_min` spends ~7,000 instructions of Python objects on it (13 subtractions of boxed ints and
floats, 6 divisions, a sorted tuple); every glucose reading asks for it. This does the same arithmetic on C
longs and doubles: the same expressions in the same order (a difference of two ints is exact, and an int below
2**52 converts to the same double Python's true division uses), a stable sort as Python's, the same middle, and
monitor.rounding's round3. tests/monitor/test_trend.py compares it with the plain form.
"""

from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.tuple cimport PyTuple_GET_SIZE

from monitor.rounding import round3

cdef long long PAIR_MIN_S = 120  # as monitor.trend (tests/monitor/test_trend.py checks they agree)
cdef long long MAX_GAP_S = 11 * 60
cdef long long RATE_SPAN_S = 15 * 60
cdef long long MIN_RATE_SPAN_S = 9 * 60
cdef long long _EXACT_INT = 4503599627370496  # 2**52


def constants():
    """The thresholds compiled in, for the test that they are monitor.trend's."""
    return {"PAIR_MIN_S": PAIR_MIN_S, "MAX_GAP_S": MAX_GAP_S, "RATE_SPAN_S": RATE_SPAN_S,
            "MIN_RATE_SPAN_S": MIN_RATE_SPAN_S}


cdef inline bint _point(object p, long long *t, double *v) except -1:
    """A (int seconds, number) pair whose parts convert exactly; False for anything else."""
    cdef int overflow = 0
    cdef long long whole
    if type(p) is not tuple or PyTuple_GET_SIZE(p) != 2:
        return False
    ts, value = (<tuple>p)[0], (<tuple>p)[1]
    if not PyLong_CheckExact(ts):
        return False
    t[0] = PyLong_AsLongLongAndOverflow(ts, &overflow)
    if overflow or not -_EXACT_INT < t[0] < _EXACT_INT:
        return False
    if PyFloat_CheckExact(value):
        v[0] = PyFloat_AS_DOUBLE(value)
        return True
    if not PyLong_CheckExact(value):
        return False
    whole = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or not -_EXACT_INT < whole < _EXACT_INT:  # a difference of two such ints is an exact double
        return False
    v[0] = <double>whole
    return True


def rate_last4(window):
    """The unrolled case of trend.rate_per_min: its float when the run is exactly the last four points, None when
    it is not (the caller goes on to the general form), NotImplemented when a point is not a plain (int, number)
    pair (the caller's plain code decides)."""
    if type(window) is not tuple:
        return NotImplemented
    cdef Py_ssize_t n = PyTuple_GET_SIZE(window)
    if n < 4:
        return None
    cdef long long t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0  # set by _point (Cython cannot tell)
    cdef double v0 = 0, v1 = 0, v2 = 0, v3 = 0, v4 = 0
    if not (_point(window[n - 4], &t0, &v0) and _point(window[n - 3], &t1, &v1)
            and _point(window[n - 2], &t2, &v2) and _point(window[n - 1], &t3, &v3)):
        return NotImplemented
    if n > 4 and not _point(window[n - 5], &t4, &v4):
        return NotImplemented
    if not (PAIR_MIN_S <= t1 - t0 <= MAX_GAP_S and PAIR_MIN_S <= t2 - t1 <= MAX_GAP_S
            and PAIR_MIN_S <= t3 - t2 <= MAX_GAP_S and MIN_RATE_SPAN_S <= t3 - t0 <= RATE_SPAN_S
            and (n == 4 or t3 - t4 > RATE_SPAN_S or t0 - t4 > MAX_GAP_S)):
        return None
    cdef double s[6]
    s[0] = (v1 - v0) / ((<double>(t1 - t0)) / 60.0)
    s[1] = (v2 - v0) / ((<double>(t2 - t0)) / 60.0)
    s[2] = (v3 - v0) / ((<double>(t3 - t0)) / 60.0)
    s[3] = (v2 - v1) / ((<double>(t2 - t1)) / 60.0)
    s[4] = (v3 - v1) / ((<double>(t3 - t1)) / 60.0)
    s[5] = (v3 - v2) / ((<double>(t3 - t2)) / 60.0)
    cdef Py_ssize_t i, j
    cdef double key
    for i in range(1, 6):  # insertion sort: stable, as Python's sort (equal zeros keep their order)
        key = s[i]
        j = i - 1
        while j >= 0 and key < s[j]:
            s[j + 1] = s[j]
            j -= 1
        s[j + 1] = key
        if key != key:
            return NotImplemented  # a NaN: Python's sort would order it otherwise
    if s[0] != s[0]:
        return NotImplemented
    return round3((s[2] + s[3]) / 2.0)
