"""bench.workload: the generated feeds go on in event time."""

from __future__ import annotations

from bench import workload


def test_feed_chunks_go_on_where_the_last_one_ended():
    group = workload.patients(20)
    rounds = workload.feed_chunks(group, 50, first_step=60)
    first, second = next(rounds), next(rounds)
    assert len(first) >= 50 and len(second) >= 50
    assert max(r.measured_at for r in first) < min(r.measured_at for r in second)
    assert first + second == workload.readings(group, len(first) + len(second), first_step=60)


def test_readings_is_the_first_chunk():
    group = workload.patients(5)
    assert workload.readings(group, 30, first_step=7) == next(workload.feed_chunks(group, 30, first_step=7))
