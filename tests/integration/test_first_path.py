"""The first path on a real broker: reading in with kafka-python, exactly one alert out, garbage dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.pseudonym import patient_key
from monitor.records import (
    Alert,
    AlertState,
    DeadLetter,
    Reading,
    ReadingKind,
    Source,
    from_json,
    reading_id_for,
    to_json,
)
from monitor.topics import ALERTS, DEADLETTER, READINGS, namespaced
from tests.integration.kafka_helpers import producer, read_topic

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SECRET = b"vigil-test-secret-0123456789"


def make_reading(patient: str, minute: int, value: float, device: str = "cgm-1") -> Reading:
    at = T0 + timedelta(minutes=minute)
    key = patient_key(patient, SECRET)
    return Reading(reading_id=reading_id_for(device, "cgm", minute, at), patient_key=key, device_id=device,
                   kind=ReadingKind.CGM, value=value, unit="mg/dL", measured_at=at, received_at=at,
                   source=Source.API, sequence=minute)


def publish(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> None:
    prod = producer(bootstrap)
    for key, value in payloads:
        prod.send(topic, key=key, value=value)
    prod.flush()
    prod.close()


def alerts_in(bootstrap: str, namespace: str, min_count: int) -> list[Alert]:
    records = read_topic(bootstrap, namespaced(ALERTS, namespace), min_count=min_count, settle_s=3.0)
    return [from_json(value, Alert) for _, value in records]


def test_one_low_reading_gives_exactly_one_alert(kafka_bootstrap, namespace, make_worker):
    worker = make_worker(namespace).start()
    reading = make_reading("enrol-001", 0, 62.0)
    publish(kafka_bootstrap, namespaced(READINGS, namespace), [(reading.patient_key.encode(), to_json(reading))])
    alerts = alerts_in(kafka_bootstrap, namespace, 1)
    worker.stop()
    assert len(alerts) == 1
    assert alerts[0].kind == "low"
    assert alerts[0].state is AlertState.OPEN
    assert alerts[0].reading_ids == (reading.reading_id,)
    assert alerts[0].patient_key == reading.patient_key


def test_garbage_goes_to_dead_letter_and_later_readings_are_still_scored(kafka_bootstrap, namespace, make_worker):
    worker = make_worker(namespace).start()
    good = make_reading("enrol-002", 5, 50.0)
    publish(kafka_bootstrap, namespaced(READINGS, namespace), [
        (good.patient_key.encode(), b"\x00\xffnot json at all"),
        (good.patient_key.encode(), b'{"type": "reading", "schema_version": 99}'),
        (good.patient_key.encode(), to_json(good)),
    ])
    alerts = alerts_in(kafka_bootstrap, namespace, 1)
    letters = [from_json(v, DeadLetter) for _, v in read_topic(kafka_bootstrap, namespaced(DEADLETTER, namespace),
                                                                min_count=2)]
    worker.stop()
    assert [a.kind for a in alerts] == ["urgent_low"]
    assert sorted(letter.raw for letter in letters) == sorted([b"\x00\xffnot json at all",
                                                               b'{"type": "reading", "schema_version": 99}'])
    assert {letter.stage for letter in letters} == {"parse"}
    assert any("schema_version 99" in letter.reason for letter in letters)


def test_restart_loses_and_duplicates_nothing(kafka_bootstrap, namespace, make_worker):
    topic = namespaced(READINGS, namespace)
    first = [make_reading("enrol-003", m, v) for m, v in [(0, 120), (5, 68), (10, 60), (15, 50)]]
    # 120 -> 68 in 5 minutes looks like a compression low: 68 waits for 60 to confirm; AR2 then forecasts < 54
    second = [make_reading("enrol-003", m, v) for m, v in
              [(20, 70), (25, 90), (30, 95), (35, 100), (40, 105), (45, 90), (50, 80), (55, 72), (60, 66)]]
    worker = make_worker(namespace).start()
    publish(kafka_bootstrap, topic, [(r.patient_key.encode(), to_json(r)) for r in first])
    before = alerts_in(kafka_bootstrap, namespace, 1)
    worker.stop()
    # the same readings again (a gateway resend) plus new ones, after a restart
    publish(kafka_bootstrap, topic, [(r.patient_key.encode(), to_json(r)) for r in first + second])
    make_worker(namespace).start()
    after = alerts_in(kafka_bootstrap, namespace, 3)
    # 50 after urgent_low_soon is the same urgent episode (same severity): a state change, not a second alert
    assert [(a.kind, a.state) for a in before] == [("urgent_low_soon", AlertState.OPEN)]
    keys = [a.record_key for a in after]
    assert len(keys) == len(set(keys)), f"duplicate alert records: {keys}"
    assert [(a.kind, a.state) for a in after] == [
        ("urgent_low_soon", AlertState.OPEN),
        ("urgent_low_soon", AlertState.RESOLVED),  # back above 80 for 15 minutes (hysteresis)
        ("predicted_low", AlertState.OPEN),  # a new episode; 66 (low, same severity) does not re-alert
    ]
    assert len({a.episode_id for a in after}) == 2


def test_the_other_runtime_resumes_from_the_same_tables(kafka_bootstrap, namespace, make_worker, worker_runtime):
    """Both runtimes read and write the same changelogs and group offsets: switching is a restart."""
    other = {"rdkafka": "batch", "batch": "faust", "faust": "rdkafka"}[worker_runtime]  # each pair once
    topic = namespaced(READINGS, namespace)
    first = [make_reading("enrol-004", m, v) for m, v in [(0, 120), (5, 68), (10, 60), (15, 50)]]
    second = [make_reading("enrol-004", m, v) for m, v in
              [(20, 70), (25, 90), (30, 95), (35, 100), (40, 105), (45, 90), (50, 80), (55, 72), (60, 66)]]
    worker = make_worker(namespace).start()
    publish(kafka_bootstrap, topic, [(r.patient_key.encode(), to_json(r)) for r in first])
    assert [(a.kind, a.state) for a in alerts_in(kafka_bootstrap, namespace, 1)] == [
        ("urgent_low_soon", AlertState.OPEN)]
    worker.stop()
    make_worker(namespace, vigil_worker_runtime=other).start()
    publish(kafka_bootstrap, topic, [(r.patient_key.encode(), to_json(r)) for r in second])
    after = alerts_in(kafka_bootstrap, namespace, 3)
    # the open episode came over with the state: it resolves, and nothing of the first part is emitted again
    assert [(a.kind, a.state) for a in after] == [
        ("urgent_low_soon", AlertState.OPEN),
        ("urgent_low_soon", AlertState.RESOLVED),
        ("predicted_low", AlertState.OPEN),
    ]
