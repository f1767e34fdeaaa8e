"""Keeps faust's end-of-recovery seek from rewinding a stream partition the agents have already started on.

faust-streaming 0.15.3 marks a new assignment's partitions active before it pauses them, and at the end of its
recovery resumes them before it awaits `Consumer.perform_seek`, which reads the committed offsets and seeks every
partition back to them. Events handed to the agents in those windows are scored and acknowledged, and a commit made
while the seek waits for the broker is undone in faust's books: the seek sets the partition's committed offset back
to the broker's older answer, its acknowledged offsets now start above it, and `Consumer._new_offset` never
commits that partition again (the survivor's stall in tests/integration/test_scale_out.py). Its rewind also
hands the agents events they have scored, unless a stale read offset drops them.

Here every event the fetch loop hands on is noted (the partition's last offset, in the current consumer
generation), and `perform_seek` seeks a stream partition the agents have had events from since its assignment to
the offset after the last of them, keeping faust's offsets for it; every other partition is sought to its committed
offset, as faust does. faust's own read offset cannot tell the two apart: its seek sets it to the next offset to
read, its fetch loop to the last offset handed on. The notes, and any read offset left over from an earlier
assignment (faust's fetch loop can set one after the revocation cleared it), are cleared when a partition is
assigned.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import TopicPartition

log = logging.getLogger(__name__)

FAUST_VERSION = "0.15.3"  # the internals patched here (`_read_offset`, `_committed_offset`, `_thread`) are this one's

TP = TypeVar("TP")


@dataclass(frozen=True)
class SeekPlan(Generic[TP]):
    """Where each assigned partition goes at faust's seek: to its committed offset, or on after its last event."""

    from_committed: frozenset[TP]
    resume_at: Mapping[TP, int]


def plan_seek(assigned: Iterable[TP], delivered: Mapping[TP, int],
              is_stream: Callable[[TP], bool]) -> SeekPlan[TP]:
    """A stream partition that has had events handed on since its assignment goes on after the last of them."""
    from_committed: set[TP] = set()
    resume_at: dict[TP, int] = {}
    for tp in assigned:
        last = delivered.get(tp)
        if last is not None and is_stream(tp):
            resume_at[tp] = last + 1
        else:
            from_committed.add(tp)
    return SeekPlan(frozenset(from_committed), resume_at)


async def committed_offsets(aiokafka_consumer: Any, tps: list[TopicPartition]) -> dict[TopicPartition, int | None]:
    """The group's committed offsets, read without seeking (aiokafka's `seek_to_committed` seeks as it reads)."""
    return {tp: await aiokafka_consumer.committed(tp) for tp in tps}


async def perform_seek(consumer: Any) -> None:
    """faust's `Consumer.perform_seek`, except for the stream partitions the agents have started on.

    The committed offsets are read first; which partitions have started is decided after that answer, and the
    seeks follow with no await in between, so no event handed on while the broker answered is rewound."""
    thread = consumer._thread
    aiokafka_consumer = thread._ensure_consumer()
    tps = [TopicPartition(tp.topic, tp.partition) for tp in consumer.assignment()]
    committed = await thread.call_thread(committed_offsets, aiokafka_consumer, tps) if tps else {}
    plan = plan_seek(consumer.assignment(), delivered_of(consumer), lambda tp: not consumer._is_changelog_tp(tp))
    for tp in plan.from_committed:  # as faust: the committed offset is where the next read starts
        offset = committed.get(TopicPartition(tp.topic, tp.partition))
        if offset is not None and offset > 0:
            aiokafka_consumer.seek(tp, offset)
        consumer._read_offset[tp] = offset if offset is not None and offset >= 0 else None
        if offset is not None:
            consumer._committed_offset[tp] = offset or None
    for tp, offset in plan.resume_at.items():
        aiokafka_consumer.seek(tp, offset)
        consumer._read_offset[tp] = offset - 1  # the fetch loop takes offsets >= this: the next one on
    if plan.resume_at:
        log.info("seek: %d stream partitions go on after the events already handed to the agents: %s",
                 len(plan.resume_at), sorted(f"{tp.topic}[{tp.partition}]={off}"
                                             for tp, off in plan.resume_at.items()))


def delivered_of(consumer: Any) -> dict[Any, int]:
    """The last offset handed on per partition since its assignment (kept on faust's consumer object)."""
    delivered: dict[Any, int] | None = getattr(consumer, "_vigil_delivered", None)
    if delivered is None:
        delivered = consumer._vigil_delivered = {}
    return delivered


def note_delivered(consumer: Any, message: Any) -> None:
    """Called for every fetched message as faust hands it on; one from an earlier generation is faust's to skip."""
    if message.generation_id != consumer.app.consumer_generation_id:
        return
    delivered = delivered_of(consumer)
    last = delivered.get(message.tp)
    if last is None or message.offset > last:
        delivered[message.tp] = message.offset


def forget_assigned(consumer: Any, assigned: Iterable[Any]) -> None:
    """A partition just assigned starts afresh: notes and read offsets of it are left from an earlier assignment."""
    delivered = delivered_of(consumer)
    for tp in assigned:
        delivered.pop(tp, None)
        consumer._read_offset.pop(tp, None)


def install(consumer_class: Any = None, conductor_class: Any = None) -> bool:
    """Patches faust's consumer once per process; False (and a warning) on a faust this was not written for."""
    import faust
    from faust.transport.conductor import Conductor
    from faust.transport.consumer import Consumer

    cls: Any = consumer_class if consumer_class is not None else Consumer
    conductor: Any = conductor_class if conductor_class is not None else Conductor
    if getattr(cls, "_vigil_seek_installed", False):
        return True
    if faust.__version__ != FAUST_VERSION:
        log.warning("faust %s, not %s: its end-of-recovery seek is not patched (monitor/faust_seek.py)",
                    faust.__version__, FAUST_VERSION)
        return False
    assigned_original = cls.on_partitions_assigned

    @functools.wraps(assigned_original)
    async def on_partitions_assigned(self: Any, assigned: Any, generation_id: int = 0) -> None:
        forget_assigned(self, assigned)
        await assigned_original(self, assigned, generation_id)

    @functools.wraps(cls.perform_seek)
    async def patched_perform_seek(self: Any) -> None:
        await perform_seek(self)

    compile_original = conductor._compile_message_handler

    @functools.wraps(compile_original)
    def compile_message_handler(self: Any) -> Any:
        handler = compile_original(self)

        async def on_message(message: Any) -> None:
            note_delivered(self.app.consumer, message)
            await handler(message)

        return on_message

    conductor._compile_message_handler = compile_message_handler
    cls.on_partitions_assigned = on_partitions_assigned
    cls.perform_seek = patched_perform_seek
    cls._vigil_seek_installed = True
    return True
