"""Bounded glucose window and a noise-robust rate of change on event time, with gaps handled."""

from __future__ import annotations

from typing import Final

from monitor.compiled import compiled_only
from monitor.rounding import round3

Point = tuple[int, float]  # (event time in epoch seconds, mg/dL)
Window = tuple[Point, ...]

WINDOW_S: Final = 60 * 60  # keep one hour: enough for AR2 and the rate, bounded per patient
MAX_POINTS: Final = 24
RATE_SPAN_S: Final = 15 * 60  # the rate looks at the last 15 minutes ...
MIN_RATE_SPAN_S: Final = 9 * 60  # ... needs at least ~10 minutes of them ...
MIN_RATE_POINTS: Final = 3  # ... and three readings, so one noisy reading cannot make a "rapid fall"
MAX_GAP_S: Final = 11 * 60  # a gap longer than two missed 5-minute readings breaks the run


def push(window: Window, t: int, value: float) -> Window:
    """Adds a point in time order (a second value at the same second replaces the first), trims to bounds."""
    if window and t > window[-1][0]:  # the common case, a point after every other: no sort
        start, oldest = 0, t - WINDOW_S
        while start < len(window) and window[start][0] < oldest:
            start += 1
        appended = (*window[start:], (t, value))
        return appended[-MAX_POINTS:] if len(appended) > MAX_POINTS else appended
    kept = [p for p in window if p[0] != t]
    kept.append((t, value))
    kept.sort()
    latest = kept[-1][0]
    kept = [p for p in kept if latest - p[0] <= WINDOW_S]
    return tuple(kept[-MAX_POINTS:])


def recent_run(window: Window) -> Window:
    """The newest points within RATE_SPAN_S of the latest, cut at the first gap longer than MAX_GAP_S."""
    return window[_run_start(window):] if window else ()


PAIR_MIN_S: Final = 120  # pairs closer than 2 minutes amplify noise


_RATE_LAST4: Final = compiled_only("monitor.trend_fast", "rate_last4")
"""Compiled, the unrolled case below in C (monitor/trend_fast.pyx): its float, None (not that case), or
NotImplemented (a point it does not take: the plain code decides)."""


def rate_per_min(window: Window) -> float | None:
    """Theil-Sen slope (median of pairwise slopes) in mg/dL/min over the recent run; None if too thin.

    The common case, a run of exactly the last four points (5-minute CGM), is computed unrolled; every other run
    goes through _theil_sen. Both give the same floats as the plain form (pairs in the same order, the same
    expression per pair, statistics.median's middle): tests/monitor/test_trend.py compares them.
    """
    if _RATE_LAST4 is not None:
        found = _RATE_LAST4(window)
        if found is not NotImplemented:
            return found if found is not None else _theil_sen(window)
    n = len(window)
    if n >= 4:
        (t0, v0), (t1, v1), (t2, v2), (t3, v3) = window[-4:]
        if (PAIR_MIN_S <= t1 - t0 <= MAX_GAP_S and PAIR_MIN_S <= t2 - t1 <= MAX_GAP_S
                and PAIR_MIN_S <= t3 - t2 <= MAX_GAP_S and MIN_RATE_SPAN_S <= t3 - t0 <= RATE_SPAN_S
                and (n == 4 or t3 - window[-5][0] > RATE_SPAN_S or t0 - window[-5][0] > MAX_GAP_S)):
            # ascending, so every pair is >= PAIR_MIN_S apart and the run is these four points (see recent_run)
            s = sorted(((v1 - v0) / ((t1 - t0) / 60.0), (v2 - v0) / ((t2 - t0) / 60.0),
                        (v3 - v0) / ((t3 - t0) / 60.0), (v2 - v1) / ((t2 - t1) / 60.0),
                        (v3 - v1) / ((t3 - t1) / 60.0), (v3 - v2) / ((t3 - t2) / 60.0)))
            return round3((s[2] + s[3]) / 2)
    return _theil_sen(window)


def _run_start(window: Window) -> int:
    """Index where recent_run(window) starts (the run is window[start:]); window is not empty."""
    start = len(window) - 1
    last = newer = window[-1][0]
    while start:
        t = window[start - 1][0]
        if last - t > RATE_SPAN_S or newer - t > MAX_GAP_S:
            break
        newer = t
        start -= 1
    return start


def _theil_sen(window: Window) -> float | None:
    n = len(window)
    if n < MIN_RATE_POINTS:
        return None
    start = _run_start(window)
    if n - start < MIN_RATE_POINTS or window[-1][0] - window[start][0] < MIN_RATE_SPAN_S:
        return None
    slopes = []
    for i in range(start, n - 1):
        ta, va = window[i]
        for tb, vb in window[i + 1:]:
            if tb - ta >= PAIR_MIN_S:
                slopes.append((vb - va) / ((tb - ta) / 60.0))
    m = len(slopes)
    if not m:
        return None
    slopes.sort()
    half = m // 2
    return round3(slopes[half] if m % 2 else (slopes[half - 1] + slopes[half]) / 2)  # = statistics.median


def previous(window: Window, t: int, max_age_s: int = 15 * 60) -> Point | None:
    """The newest point strictly before t and at most max_age_s older, if any."""
    for point in reversed(window):
        if point[0] < t:
            return point if t - point[0] <= max_age_s else None
    return None
