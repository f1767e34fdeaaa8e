"""Reads back a topic's recent records to tell which readings the broker already has (kafka-python).

Why a read-back and not a transactional producer: the broker commit and the outbox's "sent" mark live in
two stores and can never be one atomic step. With transactions, a SIGKILL between the commit and the
SQLite update still leaves a committed reading unmarked, so it is sent twice; transactions would also
force every reader (the faust worker, tools, researchers) onto read_committed. The broker is the only
judge of what arrived, so after a crash or a failed pass the outbox asks it, for exactly the rows whose
fate is unknown, from the partitions their patient keys map to and from the time they were first handed
to the producer (offsets_for_times). See Outbox.reconcile.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2


class LookupIncompleteError(RuntimeError):
    """The read-back could not cover the whole window: nothing may be assumed missing."""


def partition_for(key: bytes, partitions: list[int]) -> int:
    """The partition kafka-python's DefaultPartitioner (murmur2, like the Java client) picks for a key."""
    ordered = sorted(partitions)
    return ordered[(int(murmur2(key)) & 0x7FFFFFFF) % len(ordered)]


def find_published(
    bootstrap: str,
    topic: str,
    keys: Mapping[str, bytes],
    since: datetime,
    *,
    timeout_s: float = 30.0,
    **client_options: Any,
) -> set[str]:
    """The subset of `keys` (reading_id -> partition key) present on `topic` at or after `since`."""
    if not keys:
        return set()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        client_id="vigil-gateway-reconcile", request_timeout_ms=int(timeout_s * 1000), **client_options,
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupIncompleteError(f"no partitions known for {topic}")
        wanted = {TopicPartition(topic, partition_for(k, list(partitions))) for k in keys.values()}
        since_ms = int(since.timestamp() * 1000)
        starts = consumer.offsets_for_times({tp: since_ms for tp in wanted})
        ends = consumer.end_offsets(list(wanted))
        window = {tp: (s.offset, ends[tp]) for tp, s in starts.items() if s is not None and s.offset < ends[tp]}
        return _scan(consumer, window, set(keys), time.monotonic() + timeout_s)
    finally:
        consumer.close()


def _scan(
    consumer: KafkaConsumer, window: dict[TopicPartition, tuple[int, int]], ids: set[str], deadline: float
) -> set[str]:
    if not window:
        return set()
    consumer.assign(list(window))
    for tp, (start, _end) in window.items():
        consumer.seek(tp, start)
    found: set[str] = set()
    while any(consumer.position(tp) < end for tp, (_s, end) in window.items()):
        if time.monotonic() > deadline:
            raise LookupIncompleteError(f"read-back of {sorted(window)} did not finish in time")
        for messages in consumer.poll(timeout_ms=200).values():
            for message in messages:
                reading_id = _reading_id(message.value)
                if reading_id in ids:
                    found.add(reading_id)
    return found


def _reading_id(value: bytes | None) -> str | None:
    try:
        doc = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None
    rid = doc.get("reading_id") if isinstance(doc, dict) else None
    return rid if isinstance(rid, str) else None
