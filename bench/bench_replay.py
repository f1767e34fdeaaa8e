"""Replay throughput at --speed max vs a raw kafka-python producer on the same records (a ratio), and the
offline evaluation rate in readings/s, measured in one run.

Usage: python bench/bench_replay.py [--bootstrap 127.0.0.1:PORT] [--patients 10] [--days 7]
Without --bootstrap it starts its own broker (vigil's LocalKafka) on a free port and removes it afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kafka import KafkaProducer

from monitor import kafka_admin, topics
from monitor.evaluate import evaluate
from monitor.policies import POLICIES
from monitor.reading_table import load_readings, write_reading_file
from monitor.records import to_json
from monitor.replay import ReplayFilter, run_replay, schedule
from monitor.synthetic_cohort import CohortSpec, generate

SECRET = b"vigil-bench-secret-0123456789"


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    from monitor.kafka_local import LocalKafka, free_port

    with tempfile.TemporaryDirectory() as d:
        local = LocalKafka(Path(d), port=free_port(), controller_port=free_port())
        local.up()
        try:
            yield local.bootstrap
        finally:
            local.destroy()


def raw_rate(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    """The baseline: the same keys and bytes, pre-serialized, through a bare producer with the same settings."""
    raw = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                        max_in_flight_requests_per_connection=5)
    t = time.perf_counter()
    futures = [raw.send(topic, key=k, value=v) for k, v in payloads]
    raw.flush()
    for f in futures:
        f.get(timeout=60)
    rate = len(payloads) / (time.perf_counter() - t)
    raw.close()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", default=None)
    ap.add_argument("--patients", type=int, default=10)
    ap.add_argument("--days", type=int, default=7)
    args = ap.parse_args()
    readings = generate(CohortSpec(patients=args.patients, days=args.days, seed=1), SECRET)
    n = len(readings)
    with tempfile.TemporaryDirectory() as d, broker(args.bootstrap) as bootstrap:
        source = write_reading_file(readings, Path(d) / "cohort.parquet")
        raw_ns, rep_ns = f"benchraw{time.time_ns()}", f"benchrep{time.time_ns()}"
        for ns in (raw_ns, rep_ns):
            kafka_admin.create_topics(bootstrap, [s for s in topics.contract(ns) if s.name.endswith(topics.READINGS)])
        payloads = [(r.patient_key.encode(), to_json(r)) for r in schedule(readings)]
        raw = raw_rate(bootstrap, topics.namespaced(topics.READINGS, raw_ns), payloads)
        t = time.perf_counter()
        result = run_replay(source, bootstrap, topics.namespaced(topics.READINGS, rep_ns), None, ReplayFilter(),
                            show_progress=False)
        replay_rate = result.sent / (time.perf_counter() - t)  # file load + schedule + publish + flush
        t = time.perf_counter()
        loaded = load_readings(source)
        load_rate = n / (time.perf_counter() - t)
    assert result.sent == n
    rates = {}
    for name in POLICIES:
        t = time.perf_counter()
        evaluate(loaded, [name])
        rates[name] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    evaluate(loaded, list(POLICIES))
    all_rate = n / (time.perf_counter() - t)

    print(f"readings             {n:10d}  ({args.patients} patients x {args.days} days)")
    print(f"raw producer         {raw:10.0f} readings/s  (pre-serialized bytes, acks=all, idempotent)")
    print(f"replay --speed max   {replay_rate:10.0f} readings/s  (Parquet file -> topic, ReadingPublisher)")
    print(f"ratio replay/raw = {replay_rate / raw:.2f}  (goal >= 0.5)")
    for name, rate in rates.items():
        print(f"offline {name:18} {rate:10.0f} readings/s")
    print(f"offline all policies {all_rate:10.0f} readings/s  (goal >= 50000; 'default' is the production engine)")
    print(f"(file load alone     {load_rate:10.0f} readings/s)")


if __name__ == "__main__":
    main()
