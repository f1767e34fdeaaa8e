"""Outbox publish throughput vs a raw kafka-python producer sending the same bytes: a ratio in one run.

Usage: python bench/bench_outbox.py [--n 20000] [--bootstrap HOST:PORT]
Without --bootstrap it starts its own broker (monitor.kafka_local.LocalKafka) on a free port and removes it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kafka import KafkaProducer

from device_gateway.outbox import Outbox, OutboxLimits
from device_gateway.publisher import ReadingPublisher
from monitor import kafka_admin
from monitor.kafka_local import LocalKafka, free_port
from monitor.records import Reading, ReadingKind, Source, reading_id_for, to_json
from monitor.topics import TopicSpec


def readings(n: int) -> list[Reading]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        Reading(reading_id=reading_id_for("bench", "cgm", i, t0), patient_key="pk_" + "a" * 32,
                device_id="bench", kind=ReadingKind.CGM, value=100.0 + i % 50, unit="mg/dL",
                measured_at=t0 + timedelta(minutes=5 * i), received_at=t0, source=Source.BLE, sequence=i)
        for i in range(n)
    ]


def bench(bootstrap: str, topic: str, n: int) -> None:
    rs = readings(n)
    raw = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    payloads = [(r.patient_key.encode(), to_json(r)) for r in rs]
    t = time.perf_counter()
    futures = [raw.send(topic, key=k, value=v) for k, v in payloads]
    raw.flush()
    for f in futures:
        f.get(timeout=60)
    raw_rate = n / (time.perf_counter() - t)
    raw.close()

    with tempfile.TemporaryDirectory() as d:
        box = Outbox(Path(d) / "o.db", limits=OutboxLimits(max_pending=10 * n))
        t = time.perf_counter()
        for i in range(0, n, 500):
            box.enqueue_many([(topic, r) for r in rs[i:i + 500]])
        enqueue_rate = n / (time.perf_counter() - t)
        pub = ReadingPublisher(bootstrap, topic)
        t = time.perf_counter()
        result = box.drain(pub, batch=2000)
        outbox_rate = result.sent / (time.perf_counter() - t)
        pub.close()
        box.close()
    print(f"raw producer   {raw_rate:10.0f} msg/s")
    print(f"outbox publish {outbox_rate:10.0f} msg/s  (sent {result.sent}, error {result.error})")
    print(f"outbox enqueue {enqueue_rate:10.0f} msg/s  (batches of 500, synchronous=FULL)")
    print(f"ratio outbox/raw = {outbox_rate / raw_rate:.2f}  (goal >= 0.5)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", help="an existing broker; default: start one on a free port")
    ap.add_argument("--topic", default="vigil.bench.v1")
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()
    if args.bootstrap:
        bench(args.bootstrap, args.topic, args.n)
        return
    with tempfile.TemporaryDirectory(prefix="vigil-bench-outbox-") as state:
        broker = LocalKafka(Path(state) / "kafka", port=free_port(), controller_port=free_port())
        try:
            bootstrap = broker.up()
            kafka_admin.create_topics(bootstrap, [TopicSpec(args.topic, 3, "patient_key", "Reading")])
            bench(bootstrap, args.topic, args.n)
        finally:
            broker.destroy()


if __name__ == "__main__":
    main()
