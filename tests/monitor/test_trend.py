"""Window bounds and the noise-robust rate of change."""

from __future__ import annotations

import pytest

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
