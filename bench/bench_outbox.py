"""Outbox publish throughput vs a raw kafka-python producer sending the same bytes: a ratio in one run.

Usage: python bench/bench_outbox.py --bootstrap 127.0.0.1:PORT [--n 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaProducer

from device_gateway.outbox import Outbox, OutboxLimits
from device_gateway.publisher import ReadingPublisher
from monitor.records import Reading, ReadingKind, Source, reading_id_for, to_json


def readings(n: int) -> list[Reading]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        Reading(reading_id=reading_id_for("bench", "cgm", i, t0), patient_key="pk_" + "a" * 32,
                device_id="bench", kind=ReadingKind.CGM, value=100.0 + i % 50, unit="mg/dL",
                measured_at=t0 + timedelta(minutes=5 * i), received_at=t0, source=Source.BLE, sequence=i)
        for i in range(n)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", default="vigil.bench.v1")
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()
    rs = readings(args.n)

    raw = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    payloads = [(r.patient_key.encode(), to_json(r)) for r in rs]
    t = time.perf_counter()
    futures = [raw.send(args.topic, key=k, value=v) for k, v in payloads]
    raw.flush()
    for f in futures:
        f.get(timeout=60)
    raw_rate = args.n / (time.perf_counter() - t)
    raw.close()

    with tempfile.TemporaryDirectory() as d:
        box = Outbox(Path(d) / "o.db", limits=OutboxLimits(max_pending=10 * args.n))
        t = time.perf_counter()
        for i in range(0, args.n, 500):
            box.enqueue_many([(args.topic, r) for r in rs[i:i + 500]])
        enqueue_rate = args.n / (time.perf_counter() - t)
        pub = ReadingPublisher(args.bootstrap, args.topic)
        t = time.perf_counter()
        result = box.drain(pub, batch=2000)
        outbox_rate = result.sent / (time.perf_counter() - t)
        pub.close()
    print(f"raw producer   {raw_rate:10.0f} msg/s")
    print(f"outbox publish {outbox_rate:10.0f} msg/s  (sent {result.sent}, error {result.error})")
    print(f"outbox enqueue {enqueue_rate:10.0f} msg/s  (batches of 500, synchronous=FULL)")
    print(f"ratio outbox/raw = {outbox_rate / raw_rate:.2f}  (goal >= 0.5)")


if __name__ == "__main__":
    main()
