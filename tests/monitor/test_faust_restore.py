"""monitor.faust_restore: a newly assigned partition's tables are read back before its first event is scored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from monitor import faust_restore
from monitor.app import create_app
from monitor.config import Settings
from monitor.faust_restore import PartitionRestore, RestoredTable, RestoreError
from monitor.topics import partition_of_key

READINGS = "unit.vigil.readings.v1"


def rec(offset: int, key: bytes | None, value: bytes | None) -> Any:
    return SimpleNamespace(offset=offset, key=key, value=value)


def key_in(partition: int, stem: str = "pk") -> str:
    """A patient key that the default partitioner puts in `partition`."""
    return next(f"{stem}{i}" for i in range(10_000) if partition_of_key(f"{stem}{i}") == partition)


@pytest.fixture
def make_restore():
    """A restore over two tables whose changelogs are in-memory lists of records (per topic and partition)."""

    def factory(logs: dict[tuple[str, int], list[Any]], failures: int = 0):
        state: dict[str, Any] = {}
        config: dict[str, Any] = {}
        reads: list[list[TopicPartition]] = []
        left = [failures]

        async def read(tps: list[TopicPartition]) -> AsyncIterator[tuple[TopicPartition, list[Any]]]:
            reads.append(tps)
            if left[0] > 0:
                left[0] -= 1
                raise OSError("broker unreachable")
            for tp in tps:
                records = logs.get((tp.topic, tp.partition), [])
                for i in range(0, len(records), 2):  # in batches, as a consumer returns them
                    yield tp, records[i:i + 2]

        restore = PartitionRestore(
            tables=[RestoredTable("state-changelog", state, key_of=bytes.decode),
                    RestoredTable("config-changelog", config, key_of=bytes.decode)],
            inputs=frozenset({READINGS}), partition_of=partition_of_key, read=read)
        return restore, state, config, reads

    return factory


def assignment(*partitions: int, topic: str = READINGS) -> list[Any]:
    return [SimpleNamespace(topic=topic, partition=p) for p in partitions]


async def test_a_new_partition_is_read_back_to_its_last_committed_values_before_its_first_event(make_restore):
    a, b, other = key_in(3, "a"), key_in(3, "b"), key_in(5, "c")
    restore, state, config, reads = make_restore({
        ("state-changelog", 3): [rec(0, a.encode(), b"a1"), rec(1, b.encode(), b"b1"), rec(2, a.encode(), b"a2"),
                                 rec(3, b.encode(), None)],  # b erased: its tombstone
        ("config-changelog", 3): [rec(0, a.encode(), b"targets")],
    })
    state[other] = b"kept"  # a key of a partition this worker does not restore: not touched
    state[b] = b"stale"  # left from an earlier ownership of partition 3: replaced by what was committed
    restore.assigned(assignment(3))
    await restore.ready(3)
    assert state == {a: b"a2", other: b"kept"}
    assert config == {a: b"targets"}
    assert reads == [[TopicPartition("state-changelog", 3), TopicPartition("config-changelog", 3)]]
    await restore.ready(3)  # done once: the second event goes straight on
    assert len(reads) == 1


async def test_a_partition_kept_through_a_rebalance_keeps_its_tables_and_one_that_came_back_is_read_again(
        make_restore):
    restore, state, _, reads = make_restore({})
    restore.assigned(assignment(1, 2))
    await restore.ready(1)
    await restore.ready(2)
    assert reads == [[TopicPartition("state-changelog", 1), TopicPartition("state-changelog", 2),
                      TopicPartition("config-changelog", 1), TopicPartition("config-changelog", 2)]]  # one reader
    key = key_in(1)
    state[key] = b"scored since"
    restore.assigned(assignment(1, 2, 4))  # 4 is new; 1 and 2 stay ours
    await restore.ready(1)
    await restore.ready(2)
    assert state[key] == b"scored since" and len(reads) == 1
    await restore.ready(4)
    assert reads[-1] == [TopicPartition("state-changelog", 4), TopicPartition("config-changelog", 4)]
    restore.assigned(assignment(2, 4))  # 1 went to another worker ...
    restore.assigned(assignment(1, 2, 4))  # ... and came back: what it scored meanwhile is on the changelog only
    await restore.ready(1)
    assert key not in state


async def test_a_restore_in_flight_stops_when_a_partition_it_reads_goes_and_the_others_start_again():
    started, release = asyncio.Event(), asyncio.Event()
    reads: list[list[TopicPartition]] = []

    async def read(tps: list[TopicPartition]) -> AsyncIterator[tuple[TopicPartition, list[Any]]]:
        reads.append(tps)
        started.set()
        await release.wait()
        for tp in tps:
            yield tp, []

    restore = PartitionRestore(tables=[RestoredTable("state-changelog", {}, key_of=bytes.decode)],
                               inputs=frozenset({READINGS}), partition_of=partition_of_key, read=read)
    restore.assigned(assignment(1, 2))
    first = asyncio.ensure_future(restore.ready(1))
    await started.wait()
    restore.assigned(assignment(2))  # 1 is revoked while its restore, shared with 2, reads
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    await restore.ready(2)
    assert reads == [[TopicPartition("state-changelog", 1), TopicPartition("state-changelog", 2)],
                     [TopicPartition("state-changelog", 2)]]


async def test_only_the_input_topics_name_partitions_and_an_unassigned_one_needs_nothing(make_restore):
    restore, _, _, reads = make_restore({})
    restore.assigned(assignment(7, topic="unit.vigil-monitor-patient-state-changelog"))
    await restore.ready(7)
    assert reads == []


async def test_concurrent_agents_share_one_restore(make_restore):
    restore, _, _, reads = make_restore({})
    restore.assigned(assignment(0))
    await asyncio.gather(restore.ready(0), restore.ready(0), restore.ready(0))
    assert len(reads) == 1


async def test_a_failed_read_is_tried_again_and_a_lasting_failure_stops_the_scoring(make_restore, monkeypatch):
    monkeypatch.setattr(faust_restore, "RETRY_S", 0.0)
    key = key_in(6)
    restore, state, _, reads = make_restore({("state-changelog", 6): [rec(0, key.encode(), b"v")]}, failures=2)
    restore.assigned(assignment(6))
    await restore.ready(6)
    assert state == {key: b"v"} and len(reads) == 3
    restore, _, _, _ = make_restore({}, failures=faust_restore.ATTEMPTS)
    restore.assigned(assignment(6))
    with pytest.raises(RestoreError, match=r"partitions \[6\]"):
        await restore.ready(6)


async def test_a_record_whose_key_does_not_decode_is_skipped_with_a_warning(make_restore, caplog):
    key = key_in(2)
    restore, state, _, _ = make_restore({("state-changelog", 2): [rec(0, b"\xff\xfe", b"x"), rec(1, None, b"y"),
                                                                  rec(2, key.encode(), b"v")]})
    restore.assigned(assignment(2))
    await restore.ready(2)
    assert state == {key: b"v"}
    assert "offset 0" in caplog.text and "offset 1" in caplog.text


def test_the_app_restores_both_tables_of_every_input_partition_with_fausts_own_codecs():
    wiring = create_app(Settings(namespace="unit"))
    restore = wiring.restore
    assert restore is not None
    assert [t.changelog for t in restore.tables] == ["unit.vigil-monitor-patient-state-changelog",
                                                     "unit.vigil-monitor-patient-config-changelog"]
    assert {"unit.vigil.readings.v1", "unit.vigil.acks.v1"} <= restore.inputs
    raw_key, _ = wiring.state.changelog_topic.prepare_key("pk_abc", None)
    assert restore.tables[0].key_of(raw_key) == "pk_abc"
    assert restore.tables[0].data is wiring.state.data


async def test_an_assignment_restores_its_new_partitions_at_once_so_no_event_waits(make_restore):
    key = key_in(9)
    restore, state, _, reads = make_restore({("state-changelog", 9): [rec(0, key.encode(), b"v")]})
    await restore.restore_assigned(assignment(9, 10))
    assert state == {key: b"v"} and len(reads) == 1
    await restore.restore_assigned(assignment(9, 10))  # the same assignment again: nothing new to read
    assert len(reads) == 1 and restore.pending == {}


async def test_the_changelog_reader_is_closed_at_once_when_applying_a_record_fails():
    closed: list[bool] = []

    async def read(tps: list[TopicPartition]) -> AsyncIterator[tuple[TopicPartition, list[Any]]]:
        try:
            yield tps[0], [rec(0, key_in(4).encode(), b"v")]
            yield tps[0], [rec(1, key_in(4).encode(), b"w")]
        finally:
            closed.append(True)

    def unreadable(raw: bytes) -> Any:
        raise ValueError("not a state")

    restore = PartitionRestore(
        tables=[RestoredTable("state-changelog", {}, key_of=bytes.decode, value_of=unreadable)],
        inputs=frozenset({READINGS}), partition_of=partition_of_key, read=read)
    restore.assigned(assignment(4))
    with pytest.raises(ValueError, match="not a state"):
        await restore.ready(4)
    assert closed == [True]
