"""A worker SIGKILLed halfway through a stream and restarted leaves exactly the alerts of an uninterrupted run."""

from __future__ import annotations

import pytest

from monitor.records import Alert, from_json, to_json
from monitor.testing import MonitorHarness, cgm_series
from monitor.topics import ALERTS, READINGS, namespaced
from tests.integration.kafka_helpers import producer, read_topic, wait_until

PROFILE = [120, 110, 100, 90, 80, 72, 66, 62, 58, 52, 50, 55, 62, 70, 78, 85, 92, 100, 110, 125, 140, 160,
           185, 200, 215, 230, 245, 260, 262, 265, 263, 258, 240, 220, 200, 180, 165, 150, 140, 130]


def stream(patients: int = 7):
    out = []
    for p in range(patients):
        series = cgm_series([v + 3 * p for v in PROFILE], patient=f"pk-sigkill-{p}", device=f"cgm-{p}")
        out.extend(series)
    return sorted(out, key=lambda r: (r.measured_at, r.patient_key))


@pytest.mark.xfail(strict=False, reason=(
    "issue 4/9, open: on this broker a faust-streaming 0.15.3 exactly-once worker sometimes stalls right after "
    "'Worker ready' (transactional producers find their coordinator, then nothing is consumed); when it runs, "
    "the alerts after SIGKILL + restart equal the uninterrupted run"))
def test_sigkill_midway_then_restart_gives_exactly_the_uninterrupted_alerts(kafka_bootstrap, namespace, make_worker):
    readings = stream()
    reference = MonitorHarness()
    reference.feed(*readings)
    expected = sorted(a.record_key for a in reference.alerts)
    assert len(expected) >= 30

    worker = make_worker(namespace).start()
    prod = producer(kafka_bootstrap)
    for r in readings:
        prod.send(namespaced(READINGS, namespace), key=r.patient_key.encode(), value=to_json(r))
    prod.flush()
    prod.close()
    topic = namespaced(ALERTS, namespace)
    assert wait_until(lambda: len(read_topic(kafka_bootstrap, topic, timeout_s=2, settle_s=0.2,
                                             committed_only=False)) >= 3, timeout_s=90)
    worker.kill()  # SIGKILL: open transactions are aborted, nothing is committed twice
    make_worker(namespace).start()
    got = read_topic(kafka_bootstrap, topic, min_count=len(expected), settle_s=4.0, timeout_s=120)
    keys = sorted(from_json(v, Alert).record_key for _, v in got)
    assert keys == expected
