"""Bounded glucose window and a noise-robust rate of change on event time, with gaps handled."""

from __future__ import annotations

from statistics import median
from typing import Final

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
    kept = [p for p in window if p[0] != t]
    kept.append((t, value))
    kept.sort()
    latest = kept[-1][0]
    kept = [p for p in kept if latest - p[0] <= WINDOW_S]
    return tuple(kept[-MAX_POINTS:])


def recent_run(window: Window) -> Window:
    """The newest points within RATE_SPAN_S of the latest, cut at the first gap longer than MAX_GAP_S."""
    if not window:
        return ()
    run = [window[-1]]
    for point in reversed(window[:-1]):
        if window[-1][0] - point[0] > RATE_SPAN_S or run[-1][0] - point[0] > MAX_GAP_S:
            break
        run.append(point)
    run.reverse()
    return tuple(run)


def rate_per_min(window: Window) -> float | None:
    """Theil-Sen slope (median of pairwise slopes) in mg/dL/min over the recent run; None if too thin."""
    run = recent_run(window)
    if len(run) < MIN_RATE_POINTS or run[-1][0] - run[0][0] < MIN_RATE_SPAN_S:
        return None
    slopes = [
        (b[1] - a[1]) / ((b[0] - a[0]) / 60.0)
        for i, a in enumerate(run)
        for b in run[i + 1 :]
        if b[0] - a[0] >= 120  # pairs closer than 2 minutes amplify noise
    ]
    return round(median(slopes), 3) if slopes else None


def previous(window: Window, t: int, max_age_s: int = 15 * 60) -> Point | None:
    """The newest point strictly before t and at most max_age_s older, if any."""
    for point in reversed(window):
        if point[0] < t:
            return point if t - point[0] <= max_age_s else None
    return None
