"""Makes faust's hand-over at the end of a recovery exact, so a worker that takes partitions over never stalls.

faust-streaming 0.15.3 ends a recovery (`Recovery.on_recovery_completed`) by resuming the stream partitions, then
awaiting `Consumer.perform_seek`, which reads the committed offsets and seeks every partition back to them; then
`flow_control.resume()` empties the streams' queues and `Consumer.resume_flow()` lets the fetch loop go on. The
agents score events all through the seek's round trip, so three things go wrong (the survivor's stall in
tests/integration/test_scale_out.py, counted in bench/README.md):
- a commit made while the broker answers is undone in faust's books: the seek sets the committed offset back to
  the older answer, the acknowledged offsets start above it, and `Consumer._new_offset` never commits again;
- the fetch loop, still handing on a batch fetched before the seek, leaves a read offset above the rewound
  position, so the events fetched again are dropped, and the queued ones were emptied: never scored;
- with nothing committed yet there is no rewind at all, and the emptied events are never fetched again.

Here `perform_seek` stops the fetch loop first, reads the committed offsets without seeking, seeks only the
changelog partitions (as faust) and keeps the higher committed offset of faust's books and the broker's. The stream
partitions are sought when the queues have just been emptied (`resume_flow`, which faust calls right after):
to the offset after the last event an agent took since the assignment (`note_taken`, from the agents), else to
the committed offset, else to the start, with the read offset set to match.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

log = logging.getLogger(__name__)

FAUST_VERSION = "0.15.3"  # the internals used here (`_read_offset`, `_committed_offset`, `_thread`) are this one's

TP = TypeVar("TP")


def hand_over(stream_tps: Iterable[TP], taken: Mapping[TP, int], sought: Mapping[TP, int | None]) -> dict[TP, int]:
    """Where each stream partition's next read starts once the queues are emptied: after the last event an agent
    took, else at the committed offset the seek read (0, the start, when none was committed); a partition neither
    taken from nor sought since its assignment is left alone."""
    starts: dict[TP, int] = {}
    for tp in stream_tps:
        last = taken.get(tp)
        if last is not None:
            starts[tp] = last + 1
        elif tp in sought:
            committed = sought[tp]
            starts[tp] = committed if committed is not None and committed > 0 else 0
    return starts


def _notes(consumer: Any, name: str) -> dict[Any, Any]:
    notes: dict[Any, Any] | None = getattr(consumer, name, None)
    if notes is None:
        notes = {}
        setattr(consumer, name, notes)
    return notes


def taken_of(consumer: Any) -> dict[Any, int]:
    """The last offset an agent took per stream partition since its assignment (kept on faust's consumer)."""
    return _notes(consumer, "_vigil_taken")


def sought_of(consumer: Any) -> dict[Any, int | None]:
    """The committed offsets the last seek read for the stream partitions, waiting for the queues to empty."""
    return _notes(consumer, "_vigil_sought")


def note_taken(consumer: Any, message: Any) -> None:
    """An agent took this event (call before anything awaits); one from an earlier generation faust skips itself."""
    if message.generation_id != consumer.app.consumer_generation_id:
        return
    taken = taken_of(consumer)
    last = taken.get(message.tp)
    if last is None or message.offset > last:
        taken[message.tp] = message.offset


def forget_assigned(consumer: Any, assigned: Iterable[Any]) -> None:
    """A partition just assigned starts afresh: notes and a read offset of it are left from an earlier one."""
    taken, sought = taken_of(consumer), sought_of(consumer)
    for tp in assigned:
        taken.pop(tp, None)
        sought.pop(tp, None)
        consumer._read_offset.pop(tp, None)


async def committed_offsets(aiokafka_consumer: Any, tps: list[TopicPartition]) -> dict[TopicPartition, int | None]:
    """The group's committed offsets, read without seeking (aiokafka's `seek_to_committed` seeks as it reads)."""
    return {tp: await aiokafka_consumer.committed(tp) for tp in tps}


async def perform_seek(consumer: Any) -> None:
    """faust's `Consumer.perform_seek`, with the stream partitions left to `resume_flow`."""
    consumer.stop_flow()  # faust's recovery resumes the flow once the queues are emptied
    thread = consumer._thread
    aiokafka_consumer = thread._ensure_consumer()
    tps = [TopicPartition(tp.topic, tp.partition) for tp in consumer.assignment()]
    committed = await thread.call_thread(committed_offsets, aiokafka_consumer, tps) if tps else {}
    sought = sought_of(consumer)
    for tp in consumer.assignment():  # no await from here on: the books and the seeks agree
        offset = committed.get(TopicPartition(tp.topic, tp.partition))
        if offset is not None:
            local = consumer._committed_offset.get(tp)
            if offset and (local is None or offset > local):
                consumer._committed_offset[tp] = offset
        if not consumer._is_changelog_tp(tp):
            sought[tp] = offset
            continue
        if offset is not None and offset > 0 and not _seek(aiokafka_consumer, tp, offset):  # as faust
            continue
        consumer._read_offset[tp] = offset if offset is not None and offset >= 0 else None


def _seek(aiokafka_consumer: Any, tp: Any, offset: int) -> bool:
    """aiokafka's seek; False when the partition was revoked meanwhile (aiokafka rebalances on its own thread)."""
    try:
        aiokafka_consumer.seek(tp, offset)
    except IllegalStateError:
        log.info("%s[%d] was revoked before its seek: the next assignment hands it over", tp.topic, tp.partition)
        return False
    return True


def on_queues_emptied(consumer: Any) -> None:
    """Seeks the stream partitions where their next read starts, now that no queued event will be scored."""
    stream_tps = [tp for tp in consumer.assignment() if not consumer._is_changelog_tp(tp)]
    starts = hand_over(stream_tps, taken_of(consumer), sought_of(consumer))
    aiokafka_consumer = consumer._thread._ensure_consumer()
    for tp, start in starts.items():
        if _seek(aiokafka_consumer, tp, start):
            consumer._read_offset[tp] = start or None  # the fetch loop takes offsets >= this one
    sought_of(consumer).clear()
    if starts:
        taken = taken_of(consumer)
        log.info("hand-over: %d stream partitions sought, %d of them after events the agents had taken",
                 len(starts), sum(1 for tp in starts if tp in taken))
        log.debug("hand-over: %s", ", ".join(f"{tp.topic}[{tp.partition}]={start}"
                                              for tp, start in sorted(starts.items())))


def install(consumer_class: Any = None) -> bool:
    """Patches faust's consumer once per process; False (and a warning) on a faust this was not written for."""
    import faust
    from faust.exceptions import ConsumerNotStarted
    from faust.transport.consumer import Consumer

    cls: Any = consumer_class if consumer_class is not None else Consumer
    if getattr(cls, "_vigil_hand_over", False):
        return True
    if faust.__version__ != FAUST_VERSION:
        log.warning("faust %s, not %s: its end-of-recovery hand-over is not patched (monitor/faust_seek.py)",
                    faust.__version__, FAUST_VERSION)
        return False
    assigned_original: Callable[..., Any] = cls.on_partitions_assigned
    resume_original: Callable[..., Any] = cls.resume_flow

    @functools.wraps(assigned_original)
    async def on_partitions_assigned(self: Any, assigned: Any, generation_id: int = 0) -> None:
        forget_assigned(self, assigned)
        await assigned_original(self, assigned, generation_id)

    @functools.wraps(cls.perform_seek)
    async def patched_perform_seek(self: Any) -> None:
        await perform_seek(self)

    @functools.wraps(resume_original)
    def resume_flow(self: Any) -> None:
        try:
            assigned = self.assignment()
        except ConsumerNotStarted:  # nothing assigned, nothing to hand over
            assigned = None
        if assigned:
            on_queues_emptied(self)
        resume_original(self)

    cls.on_partitions_assigned = on_partitions_assigned
    cls.perform_seek = patched_perform_seek
    cls.resume_flow = resume_flow
    cls._vigil_hand_over = True
    return True
