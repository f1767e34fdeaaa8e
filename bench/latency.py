"""(d) Reading -> alert latency: a paced producer stamps each reading, consumers stamp each alert's arrival."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from kafka import KafkaConsumer, TopicPartition

from monitor.records import Alert, Reading, from_json, to_json


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


class AlertClock(threading.Thread):
    """Reads the alerts topic from the start and records when each alert record became visible."""

    def __init__(self, bootstrap: str, topic: str, isolation: str) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                      isolation_level=isolation, fetch_max_wait_ms=5, fetch_min_bytes=1)
        parts = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or ())]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.seen: list[tuple[float, Alert]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for messages in self.consumer.poll(timeout_ms=20).values():
                now = time.perf_counter()
                self.seen.extend((now, from_json(m.value, Alert)) for m in messages)
        self.consumer.close()


@dataclass(frozen=True)
class Latency:
    """Milliseconds from a reading's send to its alert becoming visible, for one isolation level."""

    isolation: str
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _feeder(bootstrap: str, topic: str, readings: list[Reading], rate: float, out: Any) -> None:
    out.put(asyncio.run(paced_send_batches(bootstrap, topic, readings, rate)))


async def paced_send_batches(bootstrap: str, topic: str, readings: list[Reading], rate: float) -> dict[str, float]:
    """Sends readings at `rate` per second: every 5 ms the due readings go out as one aiokafka record batch per
    partition, each stamped when handed over; returns reading_id -> send time. (A kafka-python producer costs
    ~70 us a record: above ~5k/s that feeder, sharing the box's two cores with the worker and the broker, queued
    readings itself, and its backlog counted as worker latency.)"""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        payloads = [(r.reading_id, r.patient_key.encode(), to_json(r)) for r in readings]
        sent: dict[str, float] = {}
        pending = []
        start = time.perf_counter()
        i = 0
        while i < len(payloads):
            due = min(len(payloads), int((time.perf_counter() - start) * rate) + 1)
            batches: dict[int, Any] = {}
            now = time.perf_counter()
            while i < due:
                rid, key, value = payloads[i]
                part = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
                batch = batches.get(part)
                if batch is None:
                    batch = batches[part] = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                    pending.append(await producer.send_batch(batch, topic, partition=part))
                    batch = batches[part] = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
                sent[rid] = now
                i += 1
            for part, batch in batches.items():
                batch.close()
                pending.append(await producer.send_batch(batch, topic, partition=part))
            await asyncio.sleep(0.005)
        await asyncio.gather(*pending)
        return sent
    finally:
        await producer.stop()


def paced_send_elsewhere(bootstrap: str, topic: str, readings: list[Reading], rate: float) -> dict[str, float]:
    """paced_send_batches in a child process, so the feeder and the alert clocks never wait for each other's GIL
    (perf_counter is CLOCK_MONOTONIC on Linux: one clock for all processes)."""
    ctx = multiprocessing.get_context("spawn")  # the parent already runs consumer threads
    out = ctx.Queue()
    child = ctx.Process(target=_feeder, args=(bootstrap, topic, readings, rate, out), daemon=True)
    child.start()
    sent: dict[str, float] = out.get()
    child.join()
    return sent


def summarize(isolation: str, seen: list[tuple[float, Alert]], sent: dict[str, float],
              measured: set[str] | None = None) -> Latency:
    """Latency of the alerts caused by `measured` readings (all sent ones when None)."""
    delays = []
    for arrived, alert in seen:
        stamps = [sent[rid] for rid in alert.reading_ids if rid in sent]
        if stamps and (measured is None or any(rid in measured for rid in alert.reading_ids)):
            delays.append((arrived - max(stamps)) * 1000)
    if not delays:
        return Latency(isolation, 0, 0.0, 0.0, 0.0, 0.0)
    return Latency(isolation, len(delays), percentile(delays, 50), percentile(delays, 95), percentile(delays, 99),
                   max(delays))


def measure(bootstrap: str, readings_topic: str, alerts_topic: str, readings: list[Reading], rate: float,
            settle_s: float = 3.0, warmup: list[Reading] | None = None) -> list[Latency]:
    """Runs the paced feed against a ready worker and returns latency for read_committed and read_uncommitted,
    then the same two for the warm-up: readings sent first in the same paced stream, whose alerts are not
    counted in the first two (a worker's first seconds: coordinator look-ups, the first transactions)."""
    clocks = [AlertClock(bootstrap, alerts_topic, iso) for iso in ("read_committed", "read_uncommitted")]
    for c in clocks:
        c.start()
    warmup = warmup or []
    sent = paced_send_elsewhere(bootstrap, readings_topic, [*warmup, *readings], rate)
    deadline = time.monotonic() + settle_s + 10
    last = -1
    while time.monotonic() < deadline:  # wait until no new alert arrived for settle_s
        count = len(clocks[0].seen)
        if count == last:
            break
        last = count
        time.sleep(settle_s)
    for c in clocks:
        c.stopping.set()
        c.join()
    measured, early = {r.reading_id for r in readings}, {r.reading_id for r in warmup}
    isolation = [c.consumer.config["isolation_level"] for c in clocks]
    return [*(summarize(iso, c.seen, sent, measured) for iso, c in zip(isolation, clocks, strict=True)),
            *(summarize(f"{iso}, warm-up", c.seen, sent, early) for iso, c in zip(isolation, clocks, strict=True)
              if warmup)]
