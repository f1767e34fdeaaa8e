"""The one wall-clock rule on a real broker: per-partition ticks open a no_data alert for a silent sensor."""

from __future__ import annotations

from monitor.records import Alert, AlertState, from_json, to_json
from monitor.targets import DEFAULT_TARGETS, PatientConfig, with_overrides
from monitor.testing import reading
from monitor.topics import ALERTS, PATIENT_CONFIG, READINGS, namespaced
from tests.integration.kafka_helpers import producer, read_topic


def test_a_silent_sensor_gets_one_no_data_alert_from_the_ticks(kafka_bootstrap, namespace, make_worker):
    patients = [f"pk-silent-{i}" for i in range(3)]  # a few keys, so several partitions are ticked
    prod = producer(kafka_bootstrap)
    for key in patients:  # 3 s of silence is "no data" for these patients (default 20 min)
        config = PatientConfig(key, with_overrides(DEFAULT_TARGETS, {"no_data_min": 0.05}))
        prod.send(namespaced(PATIENT_CONFIG, namespace), key=key.encode(), value=config.to_json())
    prod.flush()
    make_worker(namespace, vigil_tick_seconds="1").start()
    for key in patients:
        r = reading(120, 0, patient=key, device=f"cgm-{key}")
        prod.send(namespaced(READINGS, namespace), key=key.encode(), value=to_json(r))
    prod.flush()
    prod.close()

    got = read_topic(kafka_bootstrap, namespaced(ALERTS, namespace), min_count=len(patients), settle_s=4.0,
                     timeout_s=90)
    alerts = [from_json(v, Alert) for _, v in got]
    assert sorted((a.patient_key, a.kind, a.state) for a in alerts) == [
        (key, "no_data", AlertState.OPEN) for key in patients]  # one each, although ticks keep coming
    assert all(a.explanation.rule == "no_cgm_data_0.05_min" for a in alerts)
