"""Privacy end to end on a real broker: consent gates scoring, no identity on any topic, erasure leaves tombstones."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from kafka import KafkaAdminClient

from device_gateway.publisher import ReadingPublisher
from monitor.__main__ import main as vigil
from monitor.audit import AuditLog
from monitor.identity import IdentityStore, Member, StoredAssignment
from monitor.pseudonym import patient_key
from monitor.records import Alert, DeadLetter, Reading, ReadingKind, Source, from_json, reading_id_for
from monitor.topics import ALERTS, CONSENT, DEADLETTER, READINGS, namespaced
from tests.integration.kafka_helpers import read_topic, wait_until

SECRET = "vigil-test-secret-0123456789"
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SIGNED = "2026-11-25T07:00:00+00:00"
CONSENTED = {"enrolment": "ENR-2026-0042", "name": "Zhang Xiuying", "dob": "1958-03-14"}
REFUSED = {"enrolment": "ENR-2026-0043", "name": "Olusegun Adeyemi", "dob": "1970-07-01"}
NURSE_PHONE = "+15551234567"


def reading(enrolment: str, minute: int, value: float) -> Reading:
    at = T0 + timedelta(minutes=minute)
    device = f"cgm-{patient_key(enrolment, SECRET.encode())[-6:]}"
    return Reading(reading_id=reading_id_for(device, "cgm", minute, at),
                   patient_key=patient_key(enrolment, SECRET.encode()), device_id=device, kind=ReadingKind.CGM,
                   value=value, unit="mg/dL", measured_at=at, received_at=at, source=Source.BLE, sequence=minute)


def low_series(enrolment: str, start: int) -> list[Reading]:
    return [reading(enrolment, start + 5 * i, v) for i, v in enumerate([110, 90, 65, 60, 52, 50])]


@pytest.fixture
def deployment(tmp_path, monkeypatch, namespace, kafka_bootstrap):
    """The operator side: identity store, consent and audit databases, env of the `vigil` CLI."""
    home = tmp_path / "home"
    key = Fernet.generate_key()
    for name, value in {"VIGIL_HOME": str(home), "VIGIL_NAMESPACE": namespace, "VIGIL_BOOTSTRAP": kafka_bootstrap,
                        "VIGIL_PSEUDONYM_SECRET": SECRET, "VIGIL_IDENTITY_KEY": key.decode()}.items():
        monkeypatch.setenv(name, value)
    identity = IdentityStore(home / "identity.sqlite", [key], SECRET.encode())
    for person in (CONSENTED, REFUSED):
        identity.add_patient(person["enrolment"], person["name"], person["dob"], SECRET.encode())
    identity.add_member(Member("nurse-1", "Nurse Li", NURSE_PHONE))
    identity.assign(StoredAssignment(patient_key(CONSENTED["enrolment"], SECRET.encode()), "primary", "nurse-1",
                                     None, "UTC"))
    yield home, identity
    identity.close()


def publish(bootstrap: str, namespace: str, readings: list[Reading]) -> None:
    with ReadingPublisher(bootstrap, namespaced(READINGS, namespace), namespaced(DEADLETTER, namespace)) as pub:
        pub.send_all(readings)


def letters(bootstrap: str, namespace: str, min_count: int) -> list[DeadLetter]:
    return [from_json(v, DeadLetter) for _, v in read_topic(bootstrap, namespaced(DEADLETTER, namespace),
                                                            min_count=min_count, settle_s=1.0)]


def every_record_of_the_run(bootstrap: str, namespace: str) -> list[bytes]:
    """Keys and values of every record on every topic of this namespace, worker changelogs included."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        names = [t for t in admin.list_topics() if t.startswith(namespace)]
    finally:
        admin.close()
    assert namespaced(CONSENT, namespace) in names and any(n.endswith("-changelog") for n in names), names
    blobs: list[bytes] = []
    for name in names:
        for key, value in read_topic(bootstrap, name, settle_s=0.5, committed_only=False):
            blobs += [key or b"", value or b""]
            if name.endswith(DEADLETTER) and value:
                blobs.append(from_json(value, DeadLetter).raw)
    return blobs


def test_consent_gate_and_no_identity_on_any_topic(kafka_bootstrap, namespace, make_worker, deployment):
    home, _ = deployment
    assert vigil(["consent", "grant", CONSENTED["enrolment"], "--by", "nurse-1", "--scope", "monitoring",
                  "--at", SIGNED]) == 0
    worker = make_worker(namespace, vigil_consent_required="1", vigil_pseudonym_secret=SECRET).start()

    publish(kafka_bootstrap, namespace, low_series(CONSENTED["enrolment"], 0) + low_series(REFUSED["enrolment"], 0))
    alerts = [from_json(v, Alert) for _, v in read_topic(kafka_bootstrap, namespaced(ALERTS, namespace),
                                                         min_count=1, settle_s=2.0)]
    refused_key = patient_key(REFUSED["enrolment"], SECRET.encode())
    consented_key = patient_key(CONSENTED["enrolment"], SECRET.encode())
    assert alerts and {a.patient_key for a in alerts} == {consented_key}
    gated = [d for d in letters(kafka_bootstrap, namespace, 6) if d.stage == "consent"]
    assert len(gated) == 6 and {d.reason for d in gated} == {"no_consent"}
    assert {from_json(d.raw, Reading).patient_key for d in gated} == {refused_key}

    # revocation reaches the running worker within a minute (docs/privacy.md): from then on readings are refused
    assert vigil(["consent", "revoke", CONSENTED["enrolment"], "--by", "nurse-1"]) == 0
    learnt = f"consent update applied: {consented_key} monitoring revoke"
    assert wait_until(lambda: learnt in Path(worker.log_path).read_text(errors="replace"), timeout_s=60)
    late = low_series(CONSENTED["enrolment"], 60)
    publish(kafka_bootstrap, namespace, late)
    assert wait_until(lambda: sum(d.stage == "consent" for d in letters(kafka_bootstrap, namespace, 0)) >= 12,
                      timeout_s=60)
    worker.stop()

    blobs = every_record_of_the_run(kafka_bootstrap, namespace)
    for needle in (*CONSENTED.values(), *REFUSED.values(), NURSE_PHONE, NURSE_PHONE[1:], SECRET):
        found = [b[:80] for b in blobs if needle.encode() in b]
        assert not found, f"{needle!r} found on a topic: {found[:3]}"
    # the consent and audit trail are kept by the operator side, with pseudonyms only
    events = AuditLog(home / "audit.sqlite").events()
    assert [e.event_type for e in events] == ["consent_grant", "consent_revoke"]
    assert {e.subject for e in events} == {consented_key}
    log_text = Path(worker.log_path).read_text(errors="replace")
    for needle in (SECRET, CONSENTED["name"], CONSENTED["enrolment"]):
        assert needle not in log_text


def test_erasure_tombstones_every_compacted_key_on_the_broker(kafka_bootstrap, namespace, make_worker, deployment):
    home, identity = deployment
    key = patient_key(CONSENTED["enrolment"], SECRET.encode())
    assert vigil(["consent", "grant", CONSENTED["enrolment"], "--by", "nurse-1", "--at", SIGNED]) == 0
    worker = make_worker(namespace, vigil_consent_required="1", vigil_pseudonym_secret=SECRET).start()
    publish(kafka_bootstrap, namespace, low_series(CONSENTED["enrolment"], 0))
    assert read_topic(kafka_bootstrap, namespaced(ALERTS, namespace), min_count=1, settle_s=1.0)
    worker.stop()
    changelog = f"{namespace}.vigil-monitor-patient-state-changelog"
    faust_key = f'"{key}"'.encode()   # faust writes str table keys as JSON
    assert any(k == faust_key and v for k, v in read_topic(kafka_bootstrap, changelog, settle_s=0.5))

    assert vigil(["patient", "erase", CONSENTED["enrolment"], "--recordings", str(home / "recordings")]) == 0

    assert identity.patient_name(key) is None
    for topic, wire_key in ((changelog, faust_key), (namespaced(CONSENT, namespace), key.encode())):
        last = [v for k, v in read_topic(kafka_bootstrap, topic, settle_s=0.5) if k == wire_key][-1]
        assert last is None, f"{topic}: the patient's key is not tombstoned"
    (erasure,) = [e for e in AuditLog(home / "audit.sqlite").events() if e.event_type == "erasure"]
    assert key not in erasure.subject and CONSENTED["enrolment"] not in str(erasure.details)
    # What Kafka's retention still holds until it expires (documented in SECURITY.md): the pseudonymous readings
    # and alerts on delete-policy topics (30 and 365 days) and the older changelog values until compaction runs.
    readings_left = read_topic(kafka_bootstrap, namespaced(READINGS, namespace), settle_s=0.5)
    assert readings_left and all(base64.b64encode(CONSENTED["enrolment"].encode()) not in v
                                 and CONSENTED["enrolment"].encode() not in v for _, v in readings_left)


def test_a_running_worker_never_writes_an_erased_patients_state_again(kafka_bootstrap, namespace, make_worker,
                                                                       deployment, worker_runtime):
    """The rdkafka runtime keeps a state changed by readings unwritten for a while (VIGIL_STATE_WRITE_SECONDS):
    an erasure meanwhile must stay the patient's last changelog record, and the no-data tick must skip them."""
    home, _ = deployment
    key = patient_key(CONSENTED["enrolment"], SECRET.encode())
    assert vigil(["consent", "grant", CONSENTED["enrolment"], "--by", "nurse-1", "--at", SIGNED]) == 0
    worker = make_worker(namespace, vigil_consent_required="1", vigil_pseudonym_secret=SECRET,
                         vigil_state_write_seconds="8", vigil_tick_seconds="1").start()
    publish(kafka_bootstrap, namespace, low_series(CONSENTED["enrolment"], 0))
    assert read_topic(kafka_bootstrap, namespaced(ALERTS, namespace), min_count=1, settle_s=0.5)
    changelog = f"{namespace}.vigil-monitor-patient-state-changelog"
    wire_key = f'"{key}"'.encode()

    def records_of_the_patient() -> list[bytes | None]:
        return [v for k, v in read_topic(kafka_bootstrap, changelog, settle_s=0.5) if k == wire_key]

    before = records_of_the_patient()
    if worker_runtime == "rdkafka":
        assert before == [], "the state was written already: the test would prove nothing"
    assert vigil(["patient", "erase", CONSENTED["enrolment"], "--recordings", str(home / "recordings")]) == 0
    time.sleep(12)  # past the 8 s a state may wait, with ticks every second meanwhile
    assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
    after = records_of_the_patient()  # partitions interleave: count the states, not the order
    assert None in after, "no tombstone"
    assert sum(v is not None for v in after) == len(before), "the erased patient's state was written again"
