"""De-duplication index: exact over a day of readings in any order, compact, time-bounded."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import dedup
from monitor.dedup import HORIZON_S, MAX_RUNS, Stream, Verdict, observe

DAY = 24 * 3600


def feed(times, device="cgm-1", kind="cgm"):
    streams, verdicts = (), []
    for t in times:
        streams, v = observe(streams, device, kind, t)
        verdicts.append(v)
    return streams, verdicts


def test_a_regular_cgm_day_is_one_run():
    streams, verdicts = feed(range(0, DAY, 300))
    assert set(verdicts) == {Verdict.NEW}
    assert streams[0].runs == ((0, 300, 288),)


def test_a_resend_of_any_reading_of_the_day_is_a_duplicate_not_only_the_last_32():
    streams, _ = feed(range(0, DAY, 300))
    for t in (0, 300 * 17, DAY - 300):
        assert observe(streams, "cgm-1", "cgm", t)[1] is Verdict.DUPLICATE
    assert observe(streams, "cgm-1", "cgm", 301)[1] is Verdict.NEW  # another second is another reading
    assert observe(streams, "cgm-2", "cgm", 300)[1] is Verdict.NEW  # another device
    assert observe(streams, "cgm-1", "heart_rate", 300)[1] is Verdict.NEW  # another kind


def test_backfill_after_a_long_outage_fills_the_gap_then_resends_are_caught():
    live = [*range(0, 6 * 3600, 300), *range(12 * 3600, 13 * 3600, 300)]  # a six-hour outage
    streams, _ = feed(live)
    assert len(streams[0].runs) == 2
    gap = list(range(6 * 3600, 12 * 3600, 300))
    for t in gap:  # the gateway's backfill arrives after the live readings
        streams, v = observe(streams, "cgm-1", "cgm", t)
        assert v is Verdict.NEW
    assert streams[0].runs == ((0, 300, 156),)
    for t in [*gap, *live]:  # and a second backfill of everything
        assert observe(streams, "cgm-1", "cgm", t)[1] is Verdict.DUPLICATE


def test_older_than_the_horizon_is_too_old_never_new():
    streams, _ = feed(range(0, 2 * DAY, 300))
    assert streams[0].floor == 2 * DAY - 300 - HORIZON_S
    assert observe(streams, "cgm-1", "cgm", 600)[1] is Verdict.TOO_OLD
    assert observe(streams, "cgm-1", "cgm", 2 * DAY - 3600)[1] is Verdict.DUPLICATE


def test_an_irregular_stream_keeps_fewer_runs_and_raises_its_floor():
    rnd = random.Random(3)
    times = sorted({rnd.randrange(0, 6 * 3600) for _ in range(400)})
    streams, _ = feed(times)
    s = streams[0]
    assert len(s.runs) <= MAX_RUNS and s.floor > 0
    assert all(observe(streams, "cgm-1", "cgm", t)[1] is Verdict.DUPLICATE for t in times if t >= s.floor)


def test_streams_per_patient_are_bounded():
    streams = ()
    for device in range(dedup.MAX_STREAMS + 3):
        streams, _ = observe(streams, f"cgm-{device}", "cgm", 1000 + device)
    assert len(streams) == dedup.MAX_STREAMS
    assert streams[-1].key == dedup.stream_key(f"cgm-{dedup.MAX_STREAMS + 2}", "cgm")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40) , max_size=60), st.randoms(use_true_random=False))
def test_any_insertion_order_gives_the_canonical_runs_and_exact_answers(slots, rnd):
    times = [s * 300 + (s % 7 == 3) * 17 for s in slots]  # mostly regular, some jitter
    order = list(times)
    rnd.shuffle(order)
    streams, verdicts = feed(order)
    distinct = sorted(set(times))
    assert sum(v is Verdict.NEW for v in verdicts) == len(distinct)
    if distinct:
        assert streams[0] == Stream(streams[0].key, dedup._encode(distinct), 0)


def _reference_encode_from(runs, cutoff):
    return dedup._encode([t for t in dedup._times(runs) if t >= cutoff])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from((1, 60, 240, 300, 300, 300, 600, 900, 3600)), min_size=1, max_size=80),
       st.data())
def test_trimming_re_encodes_only_the_cut_part_and_equals_a_full_re_encode(gaps, data):
    times = [0]
    for gap in gaps:
        times.append(times[-1] + gap)
    runs = dedup._encode(times)
    cutoff = data.draw(st.integers(times[0] - 5, times[-1]))
    assert dedup._encode_from(runs, cutoff) == _reference_encode_from(runs, cutoff)
