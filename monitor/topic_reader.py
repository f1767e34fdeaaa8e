"""The recorder's kafka-python consumer: every partition of some topics, from the beginning or the end, no group."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from monitor.security import kafka_python_kwargs


@dataclass(frozen=True, slots=True)
class ConsumedMessage:
    """One record as it sat on the broker: where, when it was appended, and its bytes."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes


class TopicMissingError(RuntimeError):
    """Raised when a topic to record does not exist on the broker."""


def consume(bootstrap: str, topics: Sequence[str], *, from_beginning: bool = True, until_end: bool = False,
            stop: Callable[[], bool] = lambda: False, idle_timeout_s: float | None = None,
            poll_ms: int = 200, heartbeats: bool = False) -> Iterator[ConsumedMessage | None]:
    """Yields records until stop() is true, the end offsets seen at start are reached (until_end), or nothing
    arrived for idle_timeout_s. Checks stop() between polls, so a signal handler can end it cleanly.
    With heartbeats, an empty poll yields None (so a caller can report progress while idle)."""
    import time

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             isolation_level="read_committed", client_id="vigil-recorder",
                             **kafka_python_kwargs(None))  # VIGIL_KAFKA_* security section
    try:
        parts: list[TopicPartition] = []
        for topic in topics:
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                raise TopicMissingError(f"topic {topic} does not exist")
            parts += [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign(parts)
        if from_beginning:
            consumer.seek_to_beginning(*parts)
        else:
            consumer.seek_to_end(*parts)
        ends = consumer.end_offsets(parts) if until_end else {}
        last_new = time.monotonic()
        while not stop():
            if until_end and all(consumer.position(tp) >= ends[tp] for tp in parts):
                return
            batch = consumer.poll(timeout_ms=poll_ms)
            if batch:
                last_new = time.monotonic()
            elif heartbeats:
                yield None
            elif idle_timeout_s is not None and time.monotonic() - last_new >= idle_timeout_s:
                return
            for tp, messages in sorted(batch.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
                for m in messages:
                    yield ConsumedMessage(tp.topic, tp.partition, m.offset, m.timestamp, m.key, m.value)
    finally:
        consumer.close()
