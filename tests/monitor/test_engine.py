"""Engine: duplicates, re-ordering, backfill catch-up, no-data timer, daily summary, state size; properties."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import engine
from monitor.records import AlertState, ReadingKind
from monitor.testing import T0, FakeClock, MonitorHarness, cgm_series, reading


def test_duplicate_reading_is_dropped_and_counted():
    h = MonitorHarness()
    r = reading(60, 0)
    assert len(h.feed(r)) == 1
    assert h.feed(r) == []
    assert h.states["p1"].duplicates == 1


def test_a_backfill_resent_after_a_long_outage_is_never_counted_twice():
    h = MonitorHarness()
    start = T0.replace(hour=0)
    h.feed(*cgm_series([110] * 72, start=start))  # 00:00-05:55 live
    h.feed(*cgm_series([120] * 24, start=start, start_min=12 * 60))  # 12:00-13:55 live, after a 6-hour outage
    backfill = cgm_series([90] * 72, start=start, start_min=6 * 60, received_late_min=400)
    h.feed(*backfill)  # 72 readings, far more than the last few ids any list would keep
    assert h.states["p1"].duplicates == 0 and h.states["p1"].day.n == 168
    h.feed(*backfill, *cgm_series([110] * 72, start=start))  # the gateway resends everything
    assert h.states["p1"].duplicates == 144
    assert h.states["p1"].day.n == 168


def test_a_reading_older_than_the_dedup_horizon_is_late_and_never_counted():
    h = MonitorHarness()
    h.feed(*cgm_series([110] * 12 * 30))  # 30 hours
    day = h.states["p1"].day
    assert h.feed(reading(60, 5)) == []
    state = h.states["p1"]
    assert (state.late, state.duplicates, state.day) == (1, 0, day)


def test_out_of_order_within_bound_gives_the_same_alert_ids_as_in_order():
    values = [120, 110, 100, 90, 80, 70, 62, 58, 52, 60, 75, 85, 95, 100, 105, 110]
    ordered = cgm_series(values)
    swapped = list(ordered)
    for i in range(0, len(swapped) - 1, 2):
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    a, b = MonitorHarness(), MonitorHarness()
    a.feed(*ordered)
    b.feed(*swapped)
    assert {x.alert_id for x in a.alerts} == {x.alert_id for x in b.alerts}
    assert a.open_episodes() == b.open_episodes()


def test_backfill_fires_no_live_alert_but_one_catch_up_summary():
    h = MonitorHarness()
    h.feed(*cgm_series([110, 112, 111]))
    backfill = [reading(v, 15 + 5 * i, received_late_min=120 - 5 * i) for i, v in enumerate([90, 65, 60, 62, 80])]
    assert h.feed(*backfill) == []
    live = h.feed(reading(100, 140))
    assert [a.kind for a in live] == ["catch_up"]
    assert live[0].state is AlertState.RESOLVED and "5 late readings" in live[0].explanation.reason
    assert "low" in live[0].explanation.reason


def test_reading_older_than_the_reorder_bound_is_late_and_counted():
    h = MonitorHarness()
    h.feed(*cgm_series([110, 112, 111, 110, 109, 108]))  # up to minute 25
    assert h.feed(reading(50, 2)) == []  # 23 minutes behind the newest
    assert h.states["p1"].late == 1
    assert h.states["p1"].catch_up is not None and "urgent_low" in h.states["p1"].catch_up.kinds


def test_no_data_after_twenty_silent_minutes_on_the_wall_clock_then_resolves():
    clock = FakeClock(T0)
    h = MonitorHarness(clock=clock)
    h.feed(reading(110, 0))
    clock.advance(minutes=19)
    assert h.tick() == []
    clock.advance(minutes=2)
    opened = h.tick()
    assert [(a.kind, a.state) for a in opened] == [("no_data", AlertState.OPEN)]
    assert h.tick() == []  # one alert per episode
    back = h.feed(reading(112, 22))
    assert [(a.kind, a.state) for a in back] == [("no_data", AlertState.RESOLVED)]


def test_vitals_never_trigger_no_data():
    clock = FakeClock(T0)
    h = MonitorHarness(clock=clock)
    h.feed(reading(70, 0, kind=ReadingKind.HEART_RATE, device="hr-1"))
    clock.advance(minutes=60)
    assert h.tick() == []


def test_daily_summary_is_emitted_once_when_the_day_rolls_over():
    h = MonitorHarness()
    start = T0.replace(hour=0)
    h.feed(*cgm_series([100] * 200 + [60] * 40 + [200] * 48, start=start))
    assert h.summaries == []
    h.feed(reading(100, 24 * 60, start=start))
    [s] = h.summaries
    assert (s.readings, s.tbr_pct, s.tar_pct, s.sufficiency_pct) == (288, 13.9, 16.7, 100.0)


def test_state_stays_small():
    h = MonitorHarness()
    values = [100 + 60 * ((i % 50) / 50) for i in range(500)]
    h.feed(*cgm_series(values))
    h.feed(*[reading(70 + i % 10, 5 * i + 1, kind=ReadingKind.HEART_RATE, device="hr") for i in range(50)])
    assert len(engine.dump_state(h.states["p1"])) <= 2600  # see report: ~2 KB target


def test_state_round_trips_through_the_codec():
    h = MonitorHarness()
    h.feed(*cgm_series([120, 68, 60, 50, 70, 90]))
    state = h.states["p1"]
    assert engine.load_state(engine.dump_state(state)) == state


WINDOW = [120, 115, 108, 100, 92, 84, 76, 70, 66, 63, 60, 58, 61, 66, 72, 79, 86, 90, 96, 101, 104, 108]


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_order_within_the_lateness_bound_gives_the_same_final_episodes(rnd: random.Random):
    readings = cgm_series(WINDOW)
    shuffled = list(readings)
    # displace readings by at most one position on each side: at most 5 minutes late (< the 10-minute bound)
    for i in range(len(shuffled) - 1):
        if rnd.random() < 0.5:
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    shuffled = sorted(shuffled, key=lambda r: readings.index(r) + rnd.choice((0, 0.6, 1.2)))
    a, b = MonitorHarness(), MonitorHarness()
    a.feed(*readings)
    b.feed(*shuffled)
    assert a.states["p1"].live == b.states["p1"].live


values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e6, 1e6))
kinds = st.sampled_from(list(ReadingKind))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(values, st.floats(0, 600), kinds, st.floats(0, 300)), max_size=25))
def test_no_reading_ever_makes_the_engine_raise(items):
    h = MonitorHarness()
    for value, minute, kind, late in items:
        comps = {"diastolic": 130.0} if kind is ReadingKind.BLOOD_PRESSURE else None
        h.feed(reading(value, minute, kind=kind, device=kind.value, received_late_min=late, components=comps))
        h.clock.advance(minutes=7)
        h.tick()
    assert all(a.explanation.reason for a in h.alerts)



def test_process_builds_the_state_by_position_in_the_field_order():
    import dataclasses

    assert tuple(f.name for f in dataclasses.fields(engine.MonitorState)) == (
        "patient_key", "settled", "buffer", "live", "live_scoring", "watermark", "seen", "streams", "duplicates",
        "late", "emitted", "acks", "cgm_seen_wall", "no_data", "no_data_count", "catch_up", "day", "scored_with",
        "trail")
