"""monitor.faust_seek: faust's end-of-recovery seek leaves the partitions the agents started on where they are."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from aiokafka import TopicPartition

from monitor import faust_seek
from monitor.faust_seek import SeekPlan, delivered_of, forget_assigned, note_delivered, perform_seek, plan_seek


class TP(NamedTuple):  # faust's own TP is a NamedTuple of the same two fields
    topic: str
    partition: int


READ0, READ1, READ2 = TP("readings", 0), TP("readings", 1), TP("readings", 2)
LOG0 = TP("state-changelog", 0)


def is_stream(tp: TP) -> bool:
    return not tp.topic.endswith("-changelog")


@pytest.mark.parametrize(("assigned", "delivered", "expected"), [
    pytest.param([READ0, READ1], {}, SeekPlan(frozenset({READ0, READ1}), {}), id="nothing-handed-on-yet"),
    pytest.param([READ0, READ1], {READ0: 43}, SeekPlan(frozenset({READ1}), {READ0: 44}), id="started-goes-on"),
    pytest.param([READ0, LOG0], {READ0: 0, LOG0: 17}, SeekPlan(frozenset({LOG0}), {READ0: 1}),
                 id="changelogs-as-faust"),
    pytest.param([READ1], {READ0: 99, READ1: 5}, SeekPlan(frozenset(), {READ1: 6}), id="unassigned-ignored"),
    pytest.param([], {READ0: 3}, SeekPlan(frozenset(), {}), id="empty-assignment"),
])
def test_plan_seek(assigned, delivered, expected):
    assert plan_seek(assigned, delivered, is_stream) == expected


class FakeAiokafka:
    """aiokafka's consumer as the patch uses it: committed offsets read one by one, seeks recorded."""

    def __init__(self, broker_committed: dict[TopicPartition, int | None]) -> None:
        self.broker_committed = broker_committed
        self.asked: list[TopicPartition] = []
        self.seeks: list[tuple[TP, int]] = []
        self.while_answering: Any = lambda: None  # what the rest of the worker does during the round trip

    async def committed(self, tp: TopicPartition) -> int | None:
        assert isinstance(tp, TopicPartition), "aiokafka raises TypeError otherwise"
        self.asked.append(tp)
        self.while_answering()
        await asyncio.sleep(0)
        return self.broker_committed.get(tp)

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


class FakeThread:
    """faust's consumer thread: runs a coroutine function on the thread that owns the aiokafka consumer."""

    def __init__(self, broker_committed: dict[TopicPartition, int | None]) -> None:
        self.aiokafka = FakeAiokafka(broker_committed)

    def _ensure_consumer(self) -> FakeAiokafka:
        return self.aiokafka

    async def call_thread(self, fun: Any, *args: Any) -> Any:
        return await fun(*args)


class FakeConsumer:
    """The faust consumer internals the patch reads and writes."""

    def __init__(self, assigned, read_offsets, committed, broker_committed, generation=3) -> None:
        self.app = SimpleNamespace(consumer_generation_id=generation)
        self.assigned = set(assigned)
        self._read_offset = dict(read_offsets)
        self._committed_offset = dict(committed)
        self._thread = FakeThread(broker_committed)

    @property
    def seeks(self) -> list[tuple[TP, int]]:
        return self._thread.aiokafka.seeks

    def assignment(self) -> set[TP]:
        return self.assigned

    def _is_changelog_tp(self, tp: TP) -> bool:
        return not is_stream(tp)


def message(tp: TP, offset: int, generation: int = 3) -> Any:
    return SimpleNamespace(tp=tp, offset=offset, generation_id=generation)


def test_a_partition_committed_during_the_seek_keeps_its_offsets():
    # the survivor's stall: READ0 scored 18..43 and committed 44 while the broker still answered 18
    consumer = FakeConsumer(assigned=[READ0, READ1], read_offsets={READ0: 43}, committed={READ0: 44},
                            broker_committed={TopicPartition("readings", 0): 18, TopicPartition("readings", 1): 7})
    for offset in range(18, 44):
        note_delivered(consumer, message(READ0, offset))
    asyncio.run(perform_seek(consumer))
    assert consumer.seeks == [(READ0, 44), (READ1, 7)] or consumer.seeks == [(READ1, 7), (READ0, 44)]
    assert consumer._committed_offset == {READ0: 44, READ1: 7}
    assert consumer._read_offset == {READ0: 43, READ1: 7}  # the fetch loop takes offsets >= its read offset


def test_partitions_not_started_are_sought_to_the_broker_offsets_as_faust_does():
    consumer = FakeConsumer(assigned=[READ0, READ1, LOG0], read_offsets={LOG0: 3}, committed={},
                            broker_committed={TopicPartition("readings", 0): 12, TopicPartition("readings", 1): -1})
    asyncio.run(perform_seek(consumer))
    assert sorted(consumer._thread.aiokafka.asked) == sorted(TopicPartition(*tp) for tp in (READ0, READ1, LOG0))
    assert consumer.seeks == [(READ0, 12)]  # as aiokafka's seek_to_committed: nothing committed, no seek
    assert consumer._read_offset == {READ0: 12, READ1: None, LOG0: None}
    assert consumer._committed_offset == {READ0: 12, READ1: -1}


def test_events_handed_on_and_committed_while_the_broker_answers_are_not_rewound():
    # faust resumed the partition before awaiting the seek: the agents scored 21..24 and committed 25 meanwhile
    consumer = FakeConsumer(assigned=[READ0], read_offsets={}, committed={},
                            broker_committed={TopicPartition("readings", 0): 21})

    def agents_meanwhile() -> None:
        for offset in range(21, 25):
            note_delivered(consumer, message(READ0, offset))
            consumer._read_offset[READ0] = offset
        consumer._committed_offset[READ0] = 25

    consumer._thread.aiokafka.while_answering = agents_meanwhile
    asyncio.run(perform_seek(consumer))
    assert consumer.seeks == [(READ0, 25)]
    assert consumer._committed_offset == {READ0: 25} and consumer._read_offset == {READ0: 24}


def test_a_read_offset_set_by_a_seek_is_not_taken_for_events_handed_on():
    # faust's seek leaves the next offset to read (30) where its fetch loop leaves the last one handed on
    consumer = FakeConsumer(assigned=[READ0], read_offsets={READ0: 30}, committed={READ0: 30},
                            broker_committed={TopicPartition("readings", 0): 30})
    asyncio.run(perform_seek(consumer))
    assert consumer.seeks == [(READ0, 30)] and consumer._read_offset == {READ0: 30}


def test_only_events_of_the_current_generation_count_and_the_highest_offset_wins():
    consumer = FakeConsumer(assigned=[READ0], read_offsets={}, committed={}, broker_committed={})
    note_delivered(consumer, message(READ0, 9, generation=2))  # fetched before the rebalance: faust skips it
    assert delivered_of(consumer) == {}
    for offset in (5, 7, 6):
        note_delivered(consumer, message(READ0, offset))
    assert delivered_of(consumer) == {READ0: 7}


def test_notes_and_read_offsets_from_an_earlier_assignment_are_forgotten_when_assigned_again():
    consumer = FakeConsumer(assigned=[READ0], read_offsets={READ0: 577, READ2: 9}, committed={},
                            broker_committed={TopicPartition("readings", 0): 66})
    note_delivered(consumer, message(READ0, 576))
    note_delivered(consumer, message(READ2, 8))
    forget_assigned(consumer, [READ0])
    asyncio.run(perform_seek(consumer))
    assert consumer.seeks == [(READ0, 66)]
    assert consumer._read_offset == {READ0: 66, READ2: 9}  # READ2 is not ours: faust's revocation handles it
    assert delivered_of(consumer) == {READ2: 8}


def test_install_patches_once_and_only_the_faust_it_was_written_for(monkeypatch):
    class Consumer:
        app = SimpleNamespace(consumer_generation_id=4)

        async def on_partitions_assigned(self, assigned, generation_id=0):
            self.assigned_with = (set(assigned), generation_id)

        async def perform_seek(self):
            raise AssertionError("faust's own seek must not run")

    handled: list[Any] = []

    class Conductor:
        def __init__(self, app):
            self.app = app

        def _compile_message_handler(self):
            async def on_message(message):
                handled.append(message)
            return on_message

    import faust
    monkeypatch.setattr(faust, "__version__", "0.0.1")
    assert faust_seek.install(Consumer, Conductor) is False
    assert not hasattr(Consumer, "_vigil_seek_installed")
    monkeypatch.setattr(faust, "__version__", faust_seek.FAUST_VERSION)
    assert faust_seek.install(Consumer, Conductor) is True
    patched = Consumer.perform_seek
    assert faust_seek.install(Consumer, Conductor) is True and Consumer.perform_seek is patched  # once

    consumer = Consumer()
    consumer._read_offset = {READ0: 577}
    on_message = Conductor(SimpleNamespace(consumer=consumer))._compile_message_handler()
    asyncio.run(on_message(message(READ0, 577, generation=4)))
    assert handled == [message(READ0, 577, generation=4)] and delivered_of(consumer) == {READ0: 577}
    asyncio.run(consumer.on_partitions_assigned({READ0}, 5))
    assert consumer._read_offset == {} and delivered_of(consumer) == {} and consumer.assigned_with == ({READ0}, 5)


def test_the_worker_runs_with_the_patch():
    from faust.transport.consumer import Consumer

    from monitor.app import create_app
    from monitor.config import Settings
    create_app(Settings(namespace="unit"))
    assert Consumer._vigil_seek_installed is True
