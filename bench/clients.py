"""Baselines and client-side paths: (a) the raw aiokafka consume ceiling, (c) gateway publish vs raw producer."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from bench.cluster import raw_producer
from device_gateway.outbox import Outbox, OutboxLimits
from device_gateway.publisher import ReadingPublisher
from monitor.records import Reading, from_json, to_json


@dataclass(frozen=True)
class Rate:
    """A count over seconds (and the CPU seconds this process used for it, when measured)."""

    count: int
    seconds: float
    cpu_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


async def _consume(bootstrap: str, topic: str, expected: int) -> Rate:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False, isolation_level="read_committed",
                                max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        count = 0
        start: float | None = None
        cpu = 0.0
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if start is None and batches:
                start, cpu = time.perf_counter(), time.process_time()
            for messages in batches.values():
                for message in messages:
                    from_json(message.value, Reading)  # the same deserialization the worker does
                    count += 1
        return Rate(count, time.perf_counter() - (start or time.perf_counter()), time.process_time() - cpu)
    finally:
        await consumer.stop()


def raw_consume(bootstrap: str, topic: str, expected: int) -> Rate:
    """(a) The ceiling: an aiokafka consumer that only reads the readings topic and parses each Reading."""
    return asyncio.run(_consume(bootstrap, topic, expected))


def raw_publish(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> Rate:
    """The publish baseline: kafka-python, acks=all, idempotent, pre-serialized bytes, waits for every ack."""
    prod = raw_producer(bootstrap)
    start = time.perf_counter()
    futures = [prod.send(topic, key=k, value=v) for k, v in payloads]
    prod.flush(timeout=300)
    for f in futures:
        f.get(timeout=60)
    rate = Rate(len(payloads), time.perf_counter() - start)
    prod.close()
    return rate


def gateway_publish(bootstrap: str, topic: str, readings: list[Reading]) -> Rate:
    """(c) The gateway path: ReadingPublisher.send_all (serializes each Reading, acks=all, idempotent)."""
    with ReadingPublisher(bootstrap, topic) as pub:
        start = time.perf_counter()
        sent = pub.send_all(readings, timeout_s=300)
        return Rate(sent, time.perf_counter() - start)


def outbox_publish(bootstrap: str, topic: str, readings: list[Reading]) -> tuple[Rate, Rate]:
    """(c') The durable path: SQLite outbox enqueue (batches of 500, synchronous=FULL), then drain to Kafka."""
    with tempfile.TemporaryDirectory() as d:
        box = Outbox(Path(d) / "bench-outbox.db", limits=OutboxLimits(max_pending=10 * len(readings)))
        start = time.perf_counter()
        for i in range(0, len(readings), 500):
            box.enqueue_many([(topic, r) for r in readings[i:i + 500]])
        enqueue = Rate(len(readings), time.perf_counter() - start)
        with ReadingPublisher(bootstrap, topic) as pub:
            start = time.perf_counter()
            result = box.drain(pub, batch=2000)
            drain = Rate(result.sent, time.perf_counter() - start)
        box.close()
    return enqueue, drain


def payloads_of(readings: list[Reading]) -> list[tuple[bytes, bytes]]:
    return [(r.patient_key.encode(), to_json(r)) for r in readings]
