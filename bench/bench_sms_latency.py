"""Reading -> SMS latency on a local broker, worker, notifier and Twilio sink, against a direct-send baseline.

Latency = the sink's receive time minus the time the reading was handed to the producer (the gateway publish).
Baseline in the same run: the twilio client sending straight to the sink (no broker, worker or notifier).
Usage: python bench/bench_sms_latency.py [--n 1000] [--rate 50] [--bootstrap host:port]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaConsumer

from monitor.identity import Member, StoredAssignment, open_store
from monitor.kafka_local import LocalKafka, free_port
from monitor.notify import TwilioSender
from monitor.pseudonym import patient_key
from monitor.records import Reading, ReadingKind, Source, reading_id_for, to_json
from monitor.topics import ALERTS, READINGS, namespaced
from tests.integration.kafka_helpers import WorkerProcess, create_namespace, new_namespace, producer, wait_until
from tests.integration.notifier_harness import SECRET, NotifierHarness


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def alert_times(bootstrap: str, namespace: str, phone_of: dict[str, str]) -> dict[str, float]:
    """When each patient's first alert reached the broker (record timestamp set by the worker's producer)."""
    consumer = KafkaConsumer(namespaced(ALERTS, namespace), bootstrap_servers=bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000)
    out: dict[str, float] = {}
    for m in consumer:
        key = m.key.decode() if m.key else ""
        if key in phone_of:
            out.setdefault(phone_of[key], m.timestamp / 1000)
    consumer.close()
    return out


def phone(i: int) -> str:
    return f"+86139{i:08d}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="readings per second")
    parser.add_argument("--bootstrap", default=None, help="use a running broker instead of starting one")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-sms-"))
    broker = None
    if args.bootstrap is None:
        broker = LocalKafka(tmp / "kafka", port=free_port(), controller_port=free_port())
        broker.up()
    bootstrap = args.bootstrap or broker.bootstrap  # type: ignore[union-attr]
    namespace = new_namespace("bench")
    create_namespace(bootstrap, namespace)
    harness = NotifierHarness(bootstrap, namespace, tmp / "home", env_extra={"VIGIL_ESCALATE_MINUTES": "600",
                                                                             "VIGIL_RENOTIFY_MINUTES": "600"})
    harness.setup([])
    assert harness.sink is not None
    from types import SimpleNamespace

    store = open_store(SimpleNamespace(home=harness.home, pseudonym_secret=SECRET.encode()),
                       {"VIGIL_IDENTITY_KEY": harness.key})
    keys = []
    for i in range(args.n):
        key = patient_key(f"bench-{i}", SECRET.encode())
        store.add_member(Member(f"m{i}", f"M{i}", phone(i), "en", "mg/dL", "UTC"))
        store.assign(StoredAssignment(key, "primary", f"m{i}", None, "UTC"))
        keys.append(key)
    store.close()

    # Baseline: the same client and sink, no pipeline.
    from tests.integration.notifier_harness import FROM, SID, TOKEN

    sender = TwilioSender(SID, TOKEN, FROM, base_url=harness.sink.url)
    base = []
    for i in range(200):
        start = time.time()
        sender.send("+8613700000000", f"baseline {i}")
        base.append(harness.sink.sink.messages[-1].received_at - start)
    harness.sink.sink.messages.clear()

    worker = WorkerProcess(bootstrap, namespace, tmp / "worker.log",
                           env_extra={"VIGIL_CONSENT_REQUIRED": "0", "VIGIL_PSEUDONYM_SECRET": SECRET}).start()
    harness.start()
    prod = producer(bootstrap)
    published: dict[str, float] = {}
    topic = namespaced(READINGS, namespace)
    t_start = time.time()
    for i, key in enumerate(keys):
        at = datetime.now(UTC)
        reading = Reading(reading_id=reading_id_for(f"cgm-{i}", "cgm", 1, at), patient_key=key,
                          device_id=f"cgm-{i}", kind=ReadingKind.CGM, value=48.0, unit="mg/dL", measured_at=at,
                          received_at=at, source=Source.BLE, sequence=1)
        payload = to_json(reading)
        published[phone(i)] = time.time()
        prod.send(topic, key=key.encode(), value=payload)
        delay = t_start + (i + 1) / args.rate - time.time()
        if delay > 0:
            time.sleep(delay)  # pacing the load, not synchronisation
    prod.flush()
    done = wait_until(lambda: len({m.to for m in harness.sink.sink.messages}) >= args.n, timeout_s=300)
    received: dict[str, float] = {}
    for m in harness.sink.sink.messages:
        received.setdefault(m.to, m.received_at)
    lat = [received[p] - t for p, t in published.items() if p in received]
    alert_at = alert_times(bootstrap, namespace, {k: phone(i) for i, k in enumerate(keys)})
    to_alert = [alert_at[p] - t for p, t in published.items() if p in alert_at]
    to_sms = [received[p] - alert_at[p] for p in received if p in alert_at]
    harness.stop()
    worker.stop()
    if broker is not None:
        broker.destroy()
    print(f"alerts: {len(lat)}/{args.n} delivered to the sink{'' if done else ' (TIMED OUT)'}, "
          f"published at {args.rate:.0f}/s")
    print(f"baseline direct send  p50 {1000 * statistics.median(base):7.1f} ms  p99 {1000 * pct(base, 0.99):7.1f} ms")
    if lat:
        p50, p99 = statistics.median(lat), pct(lat, 0.99)
        print(f"reading -> SMS        p50 {1000 * p50:7.1f} ms  p99 {1000 * p99:7.1f} ms  "
              f"max {1000 * max(lat):7.1f} ms")
        if to_alert and to_sms:
            print(f"  reading -> alert    p50 {1000 * statistics.median(to_alert):7.1f} ms  "
                  f"p99 {1000 * pct(to_alert, 0.99):7.1f} ms   (worker)")
            print(f"  alert -> SMS        p50 {1000 * statistics.median(to_sms):7.1f} ms  "
                  f"p99 {1000 * pct(to_sms, 0.99):7.1f} ms   (notifier)")
        print(f"ratio to baseline     p50 x{p50 / statistics.median(base):.1f}  p99 x{p99 / pct(base, 0.99):.1f}")
        print(f"goal p99 < 1 s: {'met' if p99 < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
