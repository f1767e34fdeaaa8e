"""monitor.poll_replay: the rdkafka loop's steps without a broker, for the profile-guided build and the bench."""

from __future__ import annotations

from collections import Counter

import pytest

from monitor import poll_replay, topics
from monitor.records import to_json
from monitor.state_cache import StateCache
from monitor.testing import cgm_series
from monitor.worker_core import EVERY_CHANGE, STATE, PartitionTables, StateWrites

DIP = [120, 110, 95, 80, 66, 58, 52, 50, 49, 60, 75, 90, 110, 120, 125, 130]
BAD = b'{"kind": "cgm", "value": "not a number"}'


@pytest.fixture
def make_records():
    def factory(patients: int = 3) -> list[tuple[int, bytes]]:
        series = [cgm_series(DIP, patient=f"p{i}") for i in range(patients)]
        interleaved = [r for step in zip(*series, strict=True) for r in step]
        records = [(topics.partition_of_key(r.patient_key), to_json(r)) for r in interleaved]
        return [*records[:7], (records[7][0], BAD), *records[7:]]
    return factory


def fresh_tables(writes: StateWrites = EVERY_CHANGE) -> dict[int, PartitionTables]:
    return {p: PartitionTables(StateCache(), writes) for p in range(topics.PARTITIONS)}


@pytest.mark.parametrize("poll", [1, 5, 1000])
def test_the_alerts_and_dead_letters_do_not_depend_on_the_poll_size(make_core, make_records, poll):
    records = make_records()
    by_record = poll_replay.score(records, 1, fresh_tables(), make_core())
    by_poll = poll_replay.score(records, poll, fresh_tables(), make_core())
    assert by_record["alerts"] > 0 and by_record["deadletter"] == 1
    assert {k: v for k, v in by_poll.items() if k != STATE} == {k: v for k, v in by_record.items() if k != STATE}


def test_one_poll_scores_only_its_slice(make_core, make_records):
    records = make_records()
    outputs = poll_replay.score_poll(records, 7, 8, fresh_tables(), make_core())
    assert outputs == Counter({"deadletter": 1})  # the bad record alone: no reading scored, no state changed


def test_deferred_states_wait_for_the_injected_wall_clock(clock, make_core, make_records):
    records = make_records()
    writes = StateWrites(seconds=300.0, records=1_000_000, patients=1_000_000)
    tables, core, now = fresh_tables(writes), make_core(), clock.now.timestamp()
    first = poll_replay.score_poll(records, 0, 20, tables, core, wall=lambda: now)
    assert first[STATE] == 0  # every changed state waits: 300 s have not passed
    later = poll_replay.score_poll(records, 20, 21, tables, core, wall=lambda: now + 301)
    assert later[STATE] >= 3  # the three patients' waiting states are due now
