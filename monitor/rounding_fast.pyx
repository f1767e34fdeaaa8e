# cython: language_level=3, auto_pickle=False
"""The compiled half of monitor.rounding: round(x, 3) without the decimal conversion Python's round() makes.

`round(x, 3)` on a float converts it to a correctly rounded decimal string and back (~3,300 instructions; the
rate of change of every glucose reading is rounded so). Away from a tie the same result comes from rint() of
x * 1000: the product's error is below 1e-6 while |x * 1000| < 2**33, so the nearest integer is the one Python's
decimal rounding finds, and dividing it by 1000 gives the double nearest to that decimal, as Python's strtod does.
Near a tie, or outside that range, Python's own round() decides. tests/monitor/test_rounding.py checks it.
"""

from libc.math cimport fabs, floor, isfinite, rint


cdef double _EXACT_BELOW = 8589934592.0  # 2**33: there a product's error stays below 1e-6
cdef double _TIE_MARGIN = 1e-6


def round3(x):
    """round(x, 3), the same float (signed zeros included) for every float; anything else goes to round()."""
    if type(x) is not float:
        return round(x, 3)
    cdef double v = x
    cdef double y = v * 1000.0
    if not isfinite(y) or fabs(y) >= _EXACT_BELOW or fabs(y - floor(y) - 0.5) <= _TIE_MARGIN:
        return round(x, 3)
    return rint(y) / 1000.0
