# cython: language_level=3, auto_pickle=False
"""The compiled half of monitor.epoch: whole epoch seconds of a UTC datetime from its fields, in C.

`int(at.timestamp())` on an aware datetime subtracts the epoch (a timedelta) and divides Python integers: ~2,000
instructions, and a glucose reading needed it twice (seventeenth session). This reads the fields with the
datetime C API. Only built with the rest of the hot path (monitor.compiled); tests/monitor/test_epoch.py checks it
against the plain form wherever the fast path applies and at its edges.
"""

from cpython.datetime cimport (PyDateTime_CheckExact, datetime_day, datetime_hour, datetime_microsecond,
                               datetime_minute, datetime_month, datetime_second, datetime_tzinfo, datetime_year,
                               import_datetime)

from datetime import UTC

import_datetime()

cdef object _UTC = UTC
cdef long long _EXACT_BELOW = 4294967296  # 2**32 s (2106): below it a double holds every microsecond apart


cdef inline long long _days_from_civil(long long y, long long m, long long d) noexcept:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil; y >= 1 here)."""
    y -= m <= 2
    cdef long long era = y // 400
    cdef long long yoe = y - era * 400
    cdef long long doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    cdef long long doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def seconds(at):
    """int(at.timestamp()), computed from the fields when `at` is a UTC datetime whose value a double holds to the
    microsecond (1970 to 2106, or any whole second); anything else takes the plain path."""
    if not PyDateTime_CheckExact(at) or datetime_tzinfo(at) is not _UTC:
        return int(at.timestamp())
    cdef long long s = (_days_from_civil(datetime_year(at), datetime_month(at), datetime_day(at)) * 86400
                        + datetime_hour(at) * 3600 + datetime_minute(at) * 60 + datetime_second(at))
    if datetime_microsecond(at) == 0 or 0 <= s < _EXACT_BELOW:
        return s
    return int(at.timestamp())
