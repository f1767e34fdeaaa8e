"""A worker SIGKILLed halfway through a stream and restarted leaves exactly the alerts of an uninterrupted run."""

from __future__ import annotations

import re
from collections import Counter

import pytest

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


def replayed(log_text: str) -> int:
    """Readings a (rdkafka) worker scored again after restoring its partitions: its waiting states' readings."""
    return sum(int(n) for n in re.findall(r"scored (\d+) readings again", log_text))


def test_sigkill_midway_then_restart_gives_exactly_the_uninterrupted_alerts(kafka_bootstrap, namespace, make_worker,
                                                                             worker_runtime):
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
    restarted = make_worker(namespace, **FAST_GROUP).start()
    got = read_topic(kafka_bootstrap, topic, min_count=len(expected), settle_s=4.0, timeout_s=120)
    keys = Counter(from_json(v, Alert).record_key for _, v in got)
    want = Counter(expected)
    assert keys == want, (f"lost {sorted(want - keys)}; extra or duplicated {sorted(keys - want)}; "
                          f"{len(first)} uncommitted alerts seen and {at_kill} offsets committed before the kill")
    if worker_runtime == "rdkafka":  # its states wait (VIGIL_STATE_WRITE_*): the restart scored readings again
        assert replayed(restarted.log_path.read_text()) > 0, restarted.tail()


def test_a_graceful_stop_writes_every_waiting_state_so_the_next_worker_scores_nothing_again(
        kafka_bootstrap, namespace, make_worker, worker_runtime):
    if worker_runtime != "rdkafka":
        pytest.skip("only the rdkafka runtime lets states wait")
    readings = stream(patients=3)
    reference = MonitorHarness()
    reference.feed(*readings)
    half = len(readings) // 2
    prod = producer(kafka_bootstrap)

    def send(batch: list) -> None:
        for r in batch:
            prod.send(namespaced(READINGS, namespace), key=r.patient_key.encode(), value=to_json(r))
        prod.flush()

    first = make_worker(namespace, **FAST_GROUP).start()
    send(readings[:half])
    progress = GroupProgress(kafka_bootstrap, namespace)
    try:
        assert wait_until(lambda: progress.committed() >= half, timeout_s=60, interval_s=0.1)
    finally:
        progress.close()
    assert first.stop() == 0, first.tail()
    assert "waiting states before stopping" in first.log_path.read_text(), first.tail()
    second = make_worker(namespace, **FAST_GROUP).start()
    send(readings[half:])
    prod.close()
    got = read_topic(kafka_bootstrap, namespaced(ALERTS, namespace), min_count=len(reference.alerts), settle_s=3.0,
                     timeout_s=120)
    assert Counter(from_json(v, Alert).record_key for _, v in got) == Counter(a.record_key for a in reference.alerts)
    log_text = second.log_path.read_text()
    assert "scored 0 readings again" in log_text and replayed(log_text) == 0, second.tail()
