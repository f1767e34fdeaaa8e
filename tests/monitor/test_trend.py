"""Window bounds and the noise-robust rate of change."""

from __future__ import annotations

from statistics import median

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import trend


def window(points):
    w: trend.Window = ()
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
    assert len(w) <= trend.MAX_POINTS and list(w) == sorted(w)


def rate_reference(window):
    """rate_per_min as first written (commit 1757ca0): the faster one must give the same floats."""
    run = trend.recent_run(window)
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
        assert repr(trend.rate_per_min(window_)) == repr(rate_reference(window_))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), values), max_size=12))
def test_rate_equals_the_plain_theil_sen_on_any_window(points):
    """Unsorted windows with repeated times are not what push() makes, but the result must still not change."""
    assert repr(trend.rate_per_min(tuple(points))) == repr(rate_reference(tuple(points)))


def test_the_unrolled_four_point_run_is_taken_and_agrees():
    w = window([(0, 150.0), (300, 141.5), (600, 120.25), (900, 118.0)])
    assert len(trend.recent_run(w)) == 4
    assert trend.rate_per_min(w) == rate_reference(w) == -2.242  # median of six slopes: (-2.35 - 2.1333) / 2
