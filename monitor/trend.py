"""Bounded glucose window and a noise-robust rate of change on event time, with gaps handled.

A window is packed: one `bytes` of (event time, mg/dL) points as little-endian int64 and float64, oldest first.
A reading copies its patient's window and adds one point; packed, that is one memcpy of at most 384 bytes, where a
tuple of 24 pairs touched 24 pair objects (and their numbers) to copy and again to free. A paced worker finds its
patients' states cold in the caches (bench/README.md, fifteenth session), so the lines a reading touches are its
cost. The changelog keeps the window as a list of [t, mg/dL] pairs, as before (monitor.state_codec).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Annotated, Final

from monitor.state_codec import Packed

Point = tuple[int, float]  # (event time in epoch seconds, mg/dL)

_POINT: Final = struct.Struct("<qd")
_TIME: Final = struct.Struct("<q")
_FOUR: Final = struct.Struct("<qdqdqdqd")
POINT_SIZE: Final = _POINT.size  # 16


def points(window: bytes) -> list[Point]:
    """The window's points, oldest first (what a tuple window held)."""
    return list(_POINT.iter_unpack(window))


def pack(pts: Iterable[Point]) -> bytes:
    """A window of these points, as given (push() keeps them sorted and bounded)."""
    return b"".join([_POINT.pack(t, v) for t, v in pts])


def from_pairs(data: object) -> bytes:
    """A window from its stored form, a list of [t, mg/dL] pairs (monitor.state_codec); TypeError otherwise."""
    if not isinstance(data, list):
        raise TypeError(f"a window must be an array of [t, mg/dL] pairs, got {type(data).__name__}")
    for pair in data:
        if (not isinstance(pair, list) or len(pair) != 2 or type(pair[0]) is not int
                or isinstance(pair[1], bool) or not isinstance(pair[1], int | float)):
            raise TypeError(f"a window point must be [epoch seconds, mg/dL], got {pair!r}")
    try:
        return pack(data)
    except struct.error as exc:  # e.g. a time beyond int64
        raise ValueError(f"a window point does not fit: {exc}") from exc


Window = Annotated[bytes, Packed(points, from_pairs)]
"""What the state codec sees: packed bytes in memory, a list of [t, mg/dL] pairs in the changelog."""

WINDOW_S: Final = 60 * 60  # keep one hour: enough for AR2 and the rate, bounded per patient
MAX_POINTS: Final = 24
RATE_SPAN_S: Final = 15 * 60  # the rate looks at the last 15 minutes ...
MIN_RATE_SPAN_S: Final = 9 * 60  # ... needs at least ~10 minutes of them ...
MIN_RATE_POINTS: Final = 3  # ... and three readings, so one noisy reading cannot make a "rapid fall"
MAX_GAP_S: Final = 11 * 60  # a gap longer than two missed 5-minute readings breaks the run


def size(window: bytes) -> int:
    return len(window) // POINT_SIZE


def last(window: bytes, n: int) -> list[Point]:
    """The newest n points (all of them when there are fewer), oldest first."""
    return list(_POINT.iter_unpack(window[-n * POINT_SIZE:]))


def _time(window: bytes, i: int) -> int:
    t: int = _TIME.unpack_from(window, i * POINT_SIZE)[0]
    return t


def push(window: bytes, t: int, value: float) -> bytes:
    """Adds a point in time order (a second value at the same second replaces the first), trims to bounds."""
    n = len(window) // POINT_SIZE
    if n and t > _time(window, n - 1):  # the common case, a point after every other: no sort
        start, oldest = max(n + 1 - MAX_POINTS, 0), t - WINDOW_S
        while start < n and _time(window, start) < oldest:
            start += 1
        return window[start * POINT_SIZE:] + _POINT.pack(t, value)
    kept = [p for p in _POINT.iter_unpack(window) if p[0] != t]
    kept.append((t, float(value)))
    kept.sort()
    latest = kept[-1][0]
    return pack([p for p in kept if latest - p[0] <= WINDOW_S][-MAX_POINTS:])


def recent_run(window: bytes) -> list[Point]:
    """The newest points within RATE_SPAN_S of the latest, cut at the first gap longer than MAX_GAP_S."""
    pts = points(window)
    return pts[_run_start(pts):] if pts else []


PAIR_MIN_S: Final = 120  # pairs closer than 2 minutes amplify noise


def rate_per_min(window: bytes) -> float | None:
    """Theil-Sen slope (median of pairwise slopes) in mg/dL/min over the recent run; None if too thin.

    The common case, a run of exactly the last four points (5-minute CGM), is computed unrolled; every other run
    goes through _theil_sen. Both give the same floats as the plain form (pairs in the same order, the same
    expression per pair, statistics.median's middle): tests/monitor/test_trend.py compares them.
    """
    n = len(window) // POINT_SIZE
    if n >= 4:
        t0, v0, t1, v1, t2, v2, t3, v3 = _FOUR.unpack_from(window, (n - 4) * POINT_SIZE)
        if (PAIR_MIN_S <= t1 - t0 <= MAX_GAP_S and PAIR_MIN_S <= t2 - t1 <= MAX_GAP_S
                and PAIR_MIN_S <= t3 - t2 <= MAX_GAP_S and MIN_RATE_SPAN_S <= t3 - t0 <= RATE_SPAN_S
                and (n == 4 or t3 - (t5 := _time(window, n - 5)) > RATE_SPAN_S or t0 - t5 > MAX_GAP_S)):
            # ascending, so every pair is >= PAIR_MIN_S apart and the run is these four points (see recent_run)
            s = sorted(((v1 - v0) / ((t1 - t0) / 60.0), (v2 - v0) / ((t2 - t0) / 60.0),
                        (v3 - v0) / ((t3 - t0) / 60.0), (v2 - v1) / ((t2 - t1) / 60.0),
                        (v3 - v1) / ((t3 - t1) / 60.0), (v3 - v2) / ((t3 - t2) / 60.0)))
            rate: float = round((s[2] + s[3]) / 2, 3)
            return rate
    return _theil_sen(points(window))


def _run_start(pts: list[Point]) -> int:
    """Index where recent_run() starts (the run is pts[start:]); pts is not empty."""
    start = len(pts) - 1
    last_t = newer = pts[-1][0]
    while start:
        t = pts[start - 1][0]
        if last_t - t > RATE_SPAN_S or newer - t > MAX_GAP_S:
            break
        newer = t
        start -= 1
    return start


def _theil_sen(pts: list[Point]) -> float | None:
    n = len(pts)
    if n < MIN_RATE_POINTS:
        return None
    start = _run_start(pts)
    if n - start < MIN_RATE_POINTS or pts[-1][0] - pts[start][0] < MIN_RATE_SPAN_S:
        return None
    slopes = []
    for i in range(start, n - 1):
        ta, va = pts[i]
        for tb, vb in pts[i + 1:]:
            if tb - ta >= PAIR_MIN_S:
                slopes.append((vb - va) / ((tb - ta) / 60.0))
    m = len(slopes)
    if not m:
        return None
    slopes.sort()
    half = m // 2
    return round(slopes[half] if m % 2 else (slopes[half - 1] + slopes[half]) / 2, 3)  # = statistics.median


def previous(window: bytes, t: int, max_age_s: int = 15 * 60) -> Point | None:
    """The newest point strictly before t and at most max_age_s older, if any."""
    for i in range(len(window) // POINT_SIZE - 1, -1, -1):
        point: Point = _POINT.unpack_from(window, i * POINT_SIZE)
        if point[0] < t:
            return point if t - point[0] <= max_age_s else None
    return None


def without(window: bytes, t: int) -> bytes:
    """The window less its point at event time t (a suspected compression low that was not confirmed)."""
    return pack([p for p in _POINT.iter_unpack(window) if p[0] != t])
