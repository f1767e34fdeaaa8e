from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.pacing import Pacer, SpeedError, merge_by_event_time, parse_speed

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeTime:
    """A clock that only moves when the code under test sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(("text", "speed"), [("max", None), ("MAX", None), ("100x", 100.0), ("2.5", 2.5),
                                             (" 1x ", 1.0)])
def test_parse_speed(text, speed):
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["0x", "-3x", "fast", "x", ""])
def test_parse_speed_refuses(text):
    with pytest.raises(SpeedError):
        parse_speed(text)


def test_100x_waits_event_gap_over_100():
    t = FakeTime()
    pacer = Pacer(100.0, t.clock, t.sleep)
    for minute in (0, 5, 10, 10, 30):
        pacer.wait_for(T0 + timedelta(minutes=minute))
    assert t.sleeps == pytest.approx([3.0, 3.0, 12.0])
    assert t.now == pytest.approx(1000.0 + 30 * 60 / 100)


def test_slow_sends_are_caught_up_not_accumulated():
    t = FakeTime()
    pacer = Pacer(60.0, t.clock, t.sleep)
    pacer.wait_for(T0)
    t.now += 7.0  # the publisher stalled for 7 s: the next two items (due at +5 s, +10 s) shift by nothing
    assert pacer.wait_for(T0 + timedelta(minutes=5)) == 0.0
    assert pacer.wait_for(T0 + timedelta(minutes=10)) == pytest.approx(3.0)


def test_max_speed_never_sleeps():
    t = FakeTime()
    pacer = Pacer(None, t.clock, t.sleep)
    for minute in range(0, 600, 5):
        pacer.wait_for(T0 + timedelta(minutes=minute))
    assert t.sleeps == []


def test_merge_interleaves_on_event_time_and_keeps_each_stream_order():
    a = [("a", 0), ("a", 10), ("a", 5), ("a", 20)]  # a backfilled reading (5) after a newer one
    b = [("b", 1), ("b", 6), ("b", 11)]
    merged = list(merge_by_event_time([a, b], lambda x: T0 + timedelta(minutes=x[1])))
    assert merged == [("a", 0), ("b", 1), ("b", 6), ("a", 10), ("a", 5), ("b", 11), ("a", 20)]
    assert [x for x in merged if x[0] == "a"] == a


def test_merge_ties_are_stable_by_stream():
    a = [("a", 0), ("a", 5)]
    b = [("b", 0), ("b", 5)]
    merged = list(merge_by_event_time([a, b], lambda x: T0 + timedelta(minutes=x[1])))
    assert merged == [("a", 0), ("b", 0), ("a", 5), ("b", 5)]
