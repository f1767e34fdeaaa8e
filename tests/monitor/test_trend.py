"""Window bounds and the noise-robust rate of change."""

from __future__ import annotations

from statistics import median

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import trend


def window(points):
    w: trend.Window = b""
    for t, v in points:
        w = trend.push(w, t, v)
    return w


@pytest.mark.parametrize(("points", "rate"), [
    ([(0, 100), (300, 90), (600, 80)], -2.0),
    ([(0, 100), (300, 90), (600, 80), (900, 70)], -2.0),
    ([(0, 100), (300, 130), (600, 100), (900, 100)], 0.0),  # one noisy spike does not make a trend
    ([(0, 100), (300, 90)], None),  # too few points
    ([(0, 100), (900, 90), (1200, 80)], None),  # a 15-minute gap breaks the run
])
def test_rate(points, rate):
    assert trend.rate_per_min(window(points)) == rate


def test_window_is_bounded_and_ordered():
    w = window([(t * 60, 100.0) for t in range(200)][::-1])
    assert trend.size(w) <= trend.MAX_POINTS and trend.points(w) == sorted(trend.points(w))


def push_reference(points, t, value):
    """push() as first written, on a tuple of pairs (commit 1757ca0): the packed one must keep the same points."""
    kept = [p for p in points if p[0] != t]
    kept.append((t, value))
    kept.sort()
    latest = kept[-1][0]
    return tuple([p for p in kept if latest - p[0] <= trend.WINDOW_S][-trend.MAX_POINTS:])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20_000), st.floats(30, 400)), max_size=60))
def test_push_keeps_the_points_the_tuple_window_kept(points):
    """In order (the fast path) or not, with repeated times: the same points, the same floats, in time order."""
    packed, plain = b"", ()
    for t, v in points:
        packed, plain = trend.push(packed, t, v), push_reference(plain, t, v)
        assert trend.points(packed) == list(plain)
    assert trend.from_pairs([list(p) for p in plain]) == packed


@pytest.mark.parametrize("points", [[(0, 100.0)], [(0, 100.0), (300, 90.5)], [(60 * i, float(i)) for i in range(24)]])
def test_a_window_is_points_packed_oldest_first(points):
    w = trend.pack(points)
    assert len(w) == 16 * len(points) and trend.points(w) == points and trend.size(w) == len(points)
    assert trend.last(w, 4) == points[-4:] and trend.last(w, 100) == points
    assert trend.previous(w, points[-1][0] + 1) == points[-1] and trend.previous(w, points[0][0]) is None
    assert trend.points(trend.without(w, points[0][0])) == points[1:]


@pytest.mark.parametrize("stored", [{"t": 1}, [[1.5, 100.0]], [[True, 100.0]], [[1, "100"]], [[1, 2, 3]], [1],
                                    [[2**70, 100.0]]])
def test_a_stored_window_of_anything_but_pairs_is_refused(stored):
    with pytest.raises((TypeError, ValueError)):
        trend.from_pairs(stored)


def rate_reference(window):
    """rate_per_min as first written (commit 1757ca0): the faster one must give the same floats."""
    window = tuple(trend.points(window)) if isinstance(window, bytes) else window
    run = trend.recent_run(trend.pack(window))
    if len(run) < trend.MIN_RATE_POINTS or run[-1][0] - run[0][0] < trend.MIN_RATE_SPAN_S:
        return None
    slopes = [
        (b[1] - a[1]) / ((b[0] - a[0]) / 60.0)
        for i, a in enumerate(run)
        for b in run[i + 1 :]
        if b[0] - a[0] >= 120
    ]
    return round(median(slopes), 3) if slopes else None


# steps around every bound the rate looks at: pair 120 s, gap 660 s, span 540 / 900 s, plus CGM-like steps
steps = st.one_of(st.sampled_from([1, 60, 119, 120, 121, 179, 180, 240, 299, 300, 301, 420, 539, 540, 541, 600,
                                   659, 660, 661, 899, 900, 901]), st.integers(1, 1200))
values = st.one_of(st.floats(30, 400), st.integers(30, 400),
                   st.floats(allow_nan=True, allow_infinity=True, width=64))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(steps, values), max_size=30))
def test_rate_equals_the_plain_theil_sen_on_ascending_windows(points):
    w, t = [], 0
    for step, v in points:
        t += step
        w.append((t, v))
    for cut in range(len(w) + 1):  # every prefix, as the engine sees a window grow
        window_ = tuple(w[:cut])
        assert repr(trend.rate_per_min(trend.pack(window_))) == repr(rate_reference(window_))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), values), max_size=12))
def test_rate_equals_the_plain_theil_sen_on_any_window(points):
    """Unsorted windows with repeated times are not what push() makes, but the result must still not change."""
    assert repr(trend.rate_per_min(trend.pack(points))) == repr(rate_reference(tuple(points)))


def test_the_unrolled_four_point_run_is_taken_and_agrees():
    w = window([(0, 150.0), (300, 141.5), (600, 120.25), (900, 118.0)])
    assert len(trend.recent_run(w)) == 4
    assert trend.rate_per_min(w) == rate_reference(w) == -2.242  # median of six slopes: (-2.35 - 2.1333) / 2
