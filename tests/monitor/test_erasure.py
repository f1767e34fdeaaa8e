"""Erasure removes one patient from identity, consent, compacted topics and recordings; the audit has no PII."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.fernet import Fernet

from monitor.audit import AuditLog
from monitor.consent import Action, ConsentEvent, Scope
from monitor.consent_store import ConsentStore
from monitor.erasure import erase_identity_rows, erase_patient, erasure_reference, tombstone_targets
from monitor.identity import IdentityStore, Member, StoredAssignment
from monitor.pseudonym import patient_key

SECRET = b"vigil-test-secret-0123456789"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ENROL, NAME, DOB = "enrol-777", "Mei Lin Chen", "1961-04-02"
GONE = patient_key(ENROL, SECRET)
KEPT = patient_key("enrol-778", SECRET)


@pytest.fixture
def world(tmp_path):
    identity = IdentityStore(tmp_path / "identity.sqlite", [Fernet.generate_key()], SECRET)
    for enrol, name in ((ENROL, NAME), ("enrol-778", "Other Person")):
        identity.add_patient(enrol, name, DOB, SECRET)
    identity.add_member(Member("nurse-1", "Nurse One", "+15550001111"))
    identity.assign(StoredAssignment(GONE, "primary", "nurse-1", None, "UTC"))
    identity.assign(StoredAssignment(KEPT, "primary", "nurse-1", None, "UTC"))
    consent = ConsentStore(tmp_path / "consent.sqlite")
    for key in (GONE, KEPT):
        consent.record(ConsentEvent(key, Scope.MONITORING, Action.GRANT, "v1", NOW, "nurse-1"))
    rec = tmp_path / "recordings" / "2026-11-25"
    rec.mkdir(parents=True)
    for i in range(2):
        pq.write_table(pa.table({"patient_key": [GONE, KEPT, GONE, None], "value": [60.0 + i, 100.0, 70.0, 1.0]}),
                       rec / f"readings-{i}.parquet")
    pq.write_table(pa.table({"patient_key": [KEPT], "value": [1.0]}), rec / "other.parquet")
    pq.write_table(pa.table({"alert_id": ["a1"]}), rec / "no-patient-column.parquet")
    yield identity, consent, tmp_path
    identity.close()


def run(world, sent, audit):
    _, consent, tmp = world
    return erase_patient(GONE, consent_store=consent, send_tombstone=lambda t, k: sent.append((t, k)),
                         tombstone_on=tombstone_targets(GONE, "ns1", "ns1.vigil-monitor"),
                         recordings=[tmp / "recordings"],
                         identity_eraser=lambda k: erase_identity_rows(tmp / "identity.sqlite", k),
                         audit_append=audit.append, now=NOW)


def test_erasure_removes_the_patient_everywhere_and_keeps_the_others(world):
    identity, consent, tmp = world
    sent: list[tuple[str, bytes]] = []
    audit = AuditLog(tmp / "audit.sqlite")
    report = run(world, sent, audit)

    assert identity.patient_name(GONE) is None and identity.patient_name(KEPT) == "Other Person"
    assert [a.patient_key for a in identity.assignments()] == [KEPT]
    assert consent.state(GONE).events == () and len(consent.state(KEPT).events) == 1
    assert sent == [("ns1.vigil.consent.v1", GONE.encode()), ("ns1.vigil.patient-config.v1", GONE.encode()),
                    ("ns1.vigil-monitor-patient-state-changelog", f'"{GONE}"'.encode()),
                    ("ns1.vigil-monitor-patient-config-changelog", f'"{GONE}"'.encode())]
    rows = [r for path in sorted((tmp / "recordings").rglob("*.parquet"))
            for r in pq.read_table(path).to_pylist()]
    assert all(r.get("patient_key") != GONE for r in rows)
    assert sum(r.get("patient_key") == KEPT for r in rows) == 3
    assert sum("patient_key" in r and r["patient_key"] is None for r in rows) == 2   # unrelated rows survive
    assert (report.recordings_rewritten, report.recording_rows, report.consent_rows) == (2, 4, 1)
    assert report.identity_removed is True
    assert not list((tmp / "recordings").rglob("*.erasing"))


def test_no_trace_of_the_patient_in_vigils_files_after_erasure(world):
    identity, _, tmp = world
    audit = AuditLog(tmp / "audit.sqlite")
    run(world, [], audit)
    identity.close()
    audit.close()
    for path in tmp.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in (GONE, ENROL, NAME, DOB):
                assert needle.encode() not in data, f"{needle} still in {path}"


def test_the_audit_entry_has_a_reference_and_counts_only(world):
    tmp = world[2]
    audit = AuditLog(tmp / "audit.sqlite")
    run(world, [], audit)
    (event,) = audit.events()
    assert event.event_type == "erasure" and event.subject == erasure_reference(GONE)
    assert GONE not in str(event.details) and ENROL not in str(event.details)
    assert audit.verify()[0]
    assert erasure_reference(GONE) != erasure_reference(KEPT)      # still confirmable by who holds the id


def test_a_second_erasure_finds_nothing_and_still_tombstones(world):
    sent: list[tuple[str, bytes]] = []
    audit = AuditLog(world[2] / "audit.sqlite")
    run(world, sent, audit)
    again = run(world, sent, audit)
    assert (again.identity_removed, again.consent_rows, again.recording_rows) == (False, 0, 0)
    assert len(sent) == 8


def test_a_real_recording_loses_the_patient_everywhere_and_still_verifies(tmp_path):
    from datetime import timedelta

    from monitor import record
    from monitor.erasure import erase_recordings
    from monitor.records import DeadLetter, Reading, ReadingKind, Source, reading_id_for, to_json
    from monitor.topic_reader import ConsumedMessage

    def reading(key: str, i: int) -> Reading:
        at = NOW + timedelta(minutes=5 * i)
        return Reading(reading_id=reading_id_for(f"d-{key[-4:]}", "cgm", i, at), patient_key=key,
                       device_id=f"d-{key[-4:]}", kind=ReadingKind.CGM, value=90.0 + i, unit="mg/dL",
                       measured_at=at, received_at=at, source=Source.BLE, sequence=i)

    out = tmp_path / "rec"
    writer = record.RecordingWriter(out, {"readings": "vigil.readings.v1", "deadletter": "vigil.deadletter.v1"},
                                    clock=lambda: NOW)
    offset = 0
    for key in (GONE, KEPT):
        for i in range(3):
            writer.add(ConsumedMessage("vigil.readings.v1", 0, offset, 0, key.encode(), to_json(reading(key, i))))
            offset += 1
        letter = DeadLetter.of(to_json(reading(key, 9)), source="monitor", stage="consent", reason="no_consent",
                               at=NOW)
        writer.add(ConsumedMessage("vigil.deadletter.v1", 0, offset, 0, b"monitor", to_json(letter)))
        offset += 1
    writer.add(ConsumedMessage("vigil.readings.v1", 1, 0, 0, GONE.encode(), b"\xff not a record"))  # unparsed
    writer.close()
    assert record.verify(out) == []

    files, rows = erase_recordings([out], GONE)

    assert rows == 5 and files >= 2
    assert record.verify(out) == [], "the manifest must stay true after the rewrite"
    for path in out.rglob("*.parquet"):
        assert GONE.encode() not in path.read_bytes()
        for row in pq.read_table(path).to_pylist():
            assert row.get("patient_key") != GONE and row.get("key") != GONE.encode()
    left = [r for p in out.rglob("*.parquet") for r in pq.read_table(p).to_pylist()]
    assert sum(r.get("patient_key") == KEPT for r in left) == 3 and sum(r.get("key") == b"monitor" for r in left) == 1
