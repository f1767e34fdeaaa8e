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


RATE_LAST4 = trend._RATE_LAST4  # the compiled unrolled case, or None without the compiled hot path


@pytest.mark.skipif(RATE_LAST4 is None, reason="the compiled hot path is not in use")
def test_the_compiled_case_uses_the_thresholds_of_this_module():
    from monitor import trend_fast

    assert trend_fast.constants() == {name: getattr(trend, name) for name in (
        "PAIR_MIN_S", "MAX_GAP_S", "RATE_SPAN_S", "MIN_RATE_SPAN_S")}


@pytest.mark.skipif(RATE_LAST4 is None, reason="the compiled hot path is not in use")
@pytest.mark.parametrize("window_", [
    [(0, 150.0), (300, 141.5), (600, 120.25), (900, 118.0)],  # a list, not a tuple
    ((0.0, 150.0), (300, 141.5), (600, 120.25), (900, 118.0)),  # a float time
    ((0, True), (300, 141.5), (600, 120.25), (900, 118.0)),  # a bool value
    ((0, 2**60), (300, 141.5), (600, 120.25), (900, 118.0)),  # an int no double holds exactly
    ((0, float("nan")), (300, 141.5), (600, 120.25), (900, 118.0)),
])
def test_what_the_compiled_case_does_not_take_the_plain_code_decides(window_):
    assert RATE_LAST4(window_) is NotImplemented
    assert repr(trend.rate_per_min(window_)) == repr(rate_reference(tuple(window_)))


@pytest.mark.skipif(RATE_LAST4 is None, reason="the compiled hot path is not in use")
def test_a_point_that_is_not_a_pair_is_left_to_the_plain_code():
    assert RATE_LAST4(((0, 150.0, "x"), (300, 141.5), (600, 120.25), (900, 118.0))) is NotImplemented


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([240, 290, 300, 310, 360]), st.floats(39, 401) | st.integers(39, 401)),
                min_size=4, max_size=8), st.integers(0, 2_000_000_000))
def test_cgm_runs_give_the_plain_floats_bit_for_bit(points, start):
    w, t = [], start
    for step, v in points:
        t += step
        w.append((t, v))
    assert repr(trend.rate_per_min(tuple(w))) == repr(rate_reference(tuple(w)))
