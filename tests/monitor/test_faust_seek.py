"""monitor.faust_seek: at the end of faust's recovery every stream partition starts after the last event scored."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from monitor import faust_seek
from monitor.faust_seek import (
    forget_assigned,
    hand_over,
    note_taken,
    on_queues_emptied,
    perform_seek,
    sought_of,
    taken_of,
)


class TP(NamedTuple):  # faust's own TP is a NamedTuple of the same two fields
    topic: str
    partition: int


READ0, READ1, READ2 = TP("readings", 0), TP("readings", 1), TP("readings", 2)
LOG0 = TP("state-changelog", 0)


def kafka(tp: TP) -> TopicPartition:
    return TopicPartition(tp.topic, tp.partition)


@pytest.mark.parametrize(("taken", "sought", "expected"), [
    pytest.param({}, {}, {}, id="nothing-to-hand-over"),
    pytest.param({READ0: 43}, {READ0: 18}, {READ0: 44}, id="after-the-last-taken"),
    pytest.param({}, {READ0: 18, READ1: None, READ2: -1}, {READ0: 18, READ1: 0, READ2: 0},
                 id="committed-or-the-start"),
    pytest.param({READ1: 7}, {READ0: 5}, {READ0: 5, READ1: 8}, id="each-its-own"),
])
def test_hand_over(taken, sought, expected):
    assert hand_over([READ0, READ1, READ2], taken, sought) == expected


class FakeAiokafka:
    """aiokafka's consumer as the patch uses it: committed offsets read one by one, seeks recorded."""

    def __init__(self, broker_committed: dict[TP, int | None]) -> None:
        self.broker_committed = {kafka(tp): off for tp, off in broker_committed.items()}
        self.seeks: list[tuple[TP, int]] = []
        self.revoked: set[TP] = set()  # taken away on aiokafka's own thread, after faust last looked
        self.while_answering: Any = lambda: None  # what the rest of the worker does during the round trip

    async def committed(self, tp: TopicPartition) -> int | None:
        assert isinstance(tp, TopicPartition), "aiokafka raises TypeError otherwise"
        self.while_answering()
        await asyncio.sleep(0)
        return self.broker_committed.get(tp)

    def seek(self, tp: TP, offset: int) -> None:
        if tp in self.revoked:
            raise IllegalStateError(f"No current assignment for partition {tp}")
        self.seeks.append((tp, offset))


class FakeConsumer:
    """The faust consumer internals the patch reads and writes (its thread runs coroutines on the caller's loop)."""

    def __init__(self, assigned, broker_committed, read_offsets=(), committed=(), generation=3) -> None:
        self.app = SimpleNamespace(consumer_generation_id=generation)
        self.assigned = set(assigned)
        self._read_offset = dict(read_offsets)
        self._committed_offset = dict(committed)
        self.aiokafka = FakeAiokafka(broker_committed)
        self._thread = SimpleNamespace(_ensure_consumer=lambda: self.aiokafka, call_thread=self._call)
        self.flow: list[str] = []

    async def _call(self, fun: Any, *args: Any) -> Any:
        return await fun(*args)

    def assignment(self) -> set[TP]:
        return self.assigned

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic.endswith("-changelog")

    def stop_flow(self) -> None:
        self.flow.append("stop")


def message(tp: TP, offset: int, generation: int = 3) -> Any:
    return SimpleNamespace(tp=tp, offset=offset, generation_id=generation)


@pytest.fixture
def end_of_recovery():
    """faust's order at the end of a recovery: perform_seek, the queues emptied, resume_flow."""

    def run(consumer: FakeConsumer) -> None:
        asyncio.run(perform_seek(consumer))
        on_queues_emptied(consumer)

    return run


def test_the_stall_a_commit_during_the_round_trip_is_kept_and_nothing_is_rewound(end_of_recovery):
    # READ0 resumed before the seek: the agents took 18..43 and committed 44 while the broker still answered 18
    consumer = FakeConsumer(assigned=[READ0, READ1], broker_committed={READ0: 18, READ1: 7})

    def agents_meanwhile() -> None:
        for offset in range(18, 44):
            note_taken(consumer, message(READ0, offset))
        consumer._committed_offset[READ0] = 44

    consumer.aiokafka.while_answering = agents_meanwhile
    end_of_recovery(consumer)
    assert consumer.flow == ["stop"]
    assert sorted(consumer.aiokafka.seeks) == [(READ0, 44), (READ1, 7)]
    assert consumer._committed_offset == {READ0: 44, READ1: 7}
    assert consumer._read_offset == {READ0: 44, READ1: 7}
    assert sought_of(consumer) == {}


def test_events_handed_on_but_emptied_from_the_queues_are_read_again(end_of_recovery):
    # the fetch loop had handed on 30..300 and left its read offset at 300; the agents took only 30..40
    consumer = FakeConsumer(assigned=[READ0], broker_committed={READ0: 30}, read_offsets={READ0: 300})
    for offset in range(30, 41):
        note_taken(consumer, message(READ0, offset))
    end_of_recovery(consumer)
    assert consumer.aiokafka.seeks == [(READ0, 41)] and consumer._read_offset == {READ0: 41}


def test_with_nothing_committed_the_partition_is_read_from_the_start(end_of_recovery):
    # faust does not seek at all then, so events it emptied from the queues were never read again
    consumer = FakeConsumer(assigned=[READ0], broker_committed={READ0: None}, read_offsets={READ0: 283})
    end_of_recovery(consumer)
    assert consumer.aiokafka.seeks == [(READ0, 0)] and consumer._read_offset == {READ0: None}
    assert consumer._committed_offset == {}


def test_a_partition_revoked_under_the_seek_is_left_to_the_next_assignment(end_of_recovery):
    consumer = FakeConsumer(assigned=[LOG0, READ0, READ1], broker_committed={LOG0: 3, READ0: 9, READ1: 4},
                            read_offsets={LOG0: 1, READ0: 2})
    consumer.aiokafka.revoked = {LOG0, READ0}
    end_of_recovery(consumer)
    assert consumer.aiokafka.seeks == [(READ1, 4)]
    assert consumer._read_offset == {LOG0: 1, READ0: 2, READ1: 4}


def test_changelogs_are_sought_as_faust_does_at_once():
    consumer = FakeConsumer(assigned=[LOG0, READ0], broker_committed={LOG0: 12, READ0: 9})
    asyncio.run(perform_seek(consumer))
    assert consumer.aiokafka.seeks == [(LOG0, 12)]
    assert consumer._read_offset == {LOG0: 12} and sought_of(consumer) == {READ0: 9}
    assert consumer._committed_offset == {LOG0: 12, READ0: 9}


def test_a_resume_with_no_seek_and_nothing_taken_changes_nothing():
    # faust resumes the flow at the start of a recovery too, before any seek of this assignment
    consumer = FakeConsumer(assigned=[READ0], broker_committed={READ0: 9}, read_offsets={READ0: 5})
    on_queues_emptied(consumer)
    assert consumer.aiokafka.seeks == [] and consumer._read_offset == {READ0: 5}


def test_only_events_of_the_current_generation_count_and_the_highest_offset_wins():
    consumer = FakeConsumer(assigned=[READ0], broker_committed={})
    note_taken(consumer, message(READ0, 9, generation=2))  # fetched before the rebalance: faust skips it
    assert taken_of(consumer) == {}
    for offset in (5, 7, 6):
        note_taken(consumer, message(READ0, offset))
    assert taken_of(consumer) == {READ0: 7}


def test_notes_and_read_offsets_of_an_earlier_assignment_are_forgotten_when_assigned_again():
    consumer = FakeConsumer(assigned=[READ0], broker_committed={READ0: 66}, read_offsets={READ0: 577, READ2: 9})
    note_taken(consumer, message(READ0, 576))
    note_taken(consumer, message(READ2, 8))
    sought_of(consumer)[READ0] = 40
    forget_assigned(consumer, [READ0])
    assert taken_of(consumer) == {READ2: 8} and sought_of(consumer) == {}
    assert consumer._read_offset == {READ2: 9}  # READ2 is not ours: faust's revocation handles it


def test_install_patches_once_and_only_the_faust_it_was_written_for(monkeypatch):
    calls: list[Any] = []

    class Consumer(FakeConsumer):
        async def on_partitions_assigned(self, assigned, generation_id=0):
            calls.append(("assigned", set(assigned), generation_id))

        async def perform_seek(self):
            raise AssertionError("faust's own seek must not run")

        def resume_flow(self):
            calls.append(("resumed", list(self.aiokafka.seeks)))

    import faust
    monkeypatch.setattr(faust, "__version__", "0.0.1")
    assert faust_seek.install(Consumer) is False
    assert not hasattr(Consumer, "_vigil_hand_over")
    monkeypatch.setattr(faust, "__version__", faust_seek.FAUST_VERSION)
    assert faust_seek.install(Consumer) is True
    patched = Consumer.resume_flow
    assert faust_seek.install(Consumer) is True and Consumer.resume_flow is patched  # once

    consumer = Consumer(assigned=[READ0], broker_committed={READ0: 12}, read_offsets={READ0: 577})
    asyncio.run(consumer.on_partitions_assigned({READ0}, 5))
    assert consumer._read_offset == {} and calls == [("assigned", {READ0}, 5)]
    asyncio.run(consumer.perform_seek())
    consumer.resume_flow()
    assert calls[-1] == ("resumed", [(READ0, 12)])  # handed over before faust lets the fetch loop go on

    from faust.exceptions import ConsumerNotStarted

    class NotStarted(Consumer):
        def assignment(self):
            raise ConsumerNotStarted("no consumer yet")

    NotStarted(assigned=[], broker_committed={}).resume_flow()
    assert calls[-1] == ("resumed", [])


def test_the_worker_runs_with_the_patch():
    from faust.transport.consumer import Consumer

    from monitor.app import create_app
    from monitor.config import Settings
    create_app(Settings(namespace="unit"))
    assert Consumer._vigil_hand_over is True
