"""A worker SIGKILLed halfway through a stream and restarted leaves exactly the alerts of an uninterrupted run."""

from __future__ import annotations

from collections import Counter

from monitor.records import Alert, from_json, to_json
from monitor.testing import MonitorHarness, cgm_series
from monitor.topics import ALERTS, READINGS, namespaced
from tests.integration.kafka_helpers import FAST_GROUP, GroupProgress, producer, read_topic, wait_until

PROFILE = [120, 110, 100, 90, 80, 72, 66, 62, 58, 52, 50, 55, 62, 70, 78, 85, 92, 100, 110, 125, 140, 160,
           185, 200, 215, 230, 245, 260, 262, 265, 263, 258, 240, 220, 200, 180, 165, 150, 140, 130]


def stream(patients: int = 7):
    out = []
    for p in range(patients):
        series = cgm_series([v + 3 * p for v in PROFILE], patient=f"pk-sigkill-{p}", device=f"cgm-{p}")
        out.extend(series)
    return sorted(out, key=lambda r: (r.measured_at, r.patient_key))


def test_sigkill_midway_then_restart_gives_exactly_the_uninterrupted_alerts(kafka_bootstrap, namespace, make_worker):
    readings = stream()
    reference = MonitorHarness()
    reference.feed(*readings)
    expected = sorted(a.record_key for a in reference.alerts)
    assert len(expected) >= 30
    half = len(readings) // 2

    worker = make_worker(namespace, **FAST_GROUP).start()
    prod = producer(kafka_bootstrap)

    def send(batch: list) -> None:
        for r in batch:
            prod.send(namespaced(READINGS, namespace), key=r.patient_key.encode(), value=to_json(r))
        prod.flush()

    topic = namespaced(ALERTS, namespace)
    send(readings[:half])
    # The first half is being scored when its alerts appear (uncommitted: the open transaction's records count).
    first = read_topic(kafka_bootstrap, topic, min_count=3, settle_s=0.0, timeout_s=90, committed_only=False)
    assert len(first) >= 3, "the worker produced no alerts from the first half"
    progress = GroupProgress(kafka_bootstrap, namespace)
    try:  # something committed, so the restarted worker must resume from its changelog, not from scratch
        assert wait_until(lambda: progress.committed() > 0, timeout_s=60, interval_s=0.05)
        send(readings[half:])
        worker.kill()  # SIGKILL mid-stream: open transactions are aborted, none committed twice
        at_kill = progress.committed()
    finally:
        progress.close()
    assert at_kill < len(readings), "all work was done before the kill; the test would prove nothing"
    prod.close()
    make_worker(namespace, **FAST_GROUP).start()
    got = read_topic(kafka_bootstrap, topic, min_count=len(expected), settle_s=4.0, timeout_s=120)
    keys = Counter(from_json(v, Alert).record_key for _, v in got)
    want = Counter(expected)
    assert keys == want, (f"lost {sorted(want - keys)}; extra or duplicated {sorted(keys - want)}; "
                          f"{len(first)} uncommitted alerts seen and {at_kill} offsets committed before the kill")
