from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from monitor.reading_table import load_readings
from monitor.record import RecordingWriter, record, verify
from monitor.records import Alert, AlertState, Explanation, Severity, to_json
from monitor.synthetic_cohort import CohortSpec, generate
from monitor.topic_reader import ConsumedMessage

SECRET = b"vigil-test-secret-0123456789"
LABELS = {"readings": "ns.vigil.readings.v1", "alerts": "ns.vigil.alerts.v1"}
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def messages(n_patients: int = 2, days: int = 2) -> tuple[list, list[ConsumedMessage]]:
    readings = generate(CohortSpec(patients=n_patients, days=days, seed=5), SECRET)
    out = []
    offsets: dict[int, int] = {}
    for r in readings:
        part = hash(r.patient_key) % 3
        offsets[part] = offsets.get(part, -1) + 1
        out.append(ConsumedMessage(LABELS["readings"], part, offsets[part], 1_700_000_000_000, r.patient_key.encode(),
                                   to_json(r)))
    return readings, out


def test_batches_days_manifest_and_checksum(tmp_path):
    readings, msgs = messages()
    alert = Alert("a_1", readings[0].patient_key, "e_1", "low", Severity.WARNING, AlertState.OPEN,
                  readings[5].measured_at, (readings[5].reading_id,), Explanation("glucose_below_70", "low"))
    msgs.append(ConsumedMessage(LABELS["alerts"], 0, 0, 1_700_000_000_000, b"k", to_json(alert)))
    msgs.append(ConsumedMessage(LABELS["readings"], 1, 9999, 1_700_000_000_000, b"k", b"\xffgarbage"))
    writer = RecordingWriter(tmp_path, LABELS, batch_rows=500, clock=lambda: NOW)
    manifest = record(msgs, writer, lambda: "test")
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest
    r = manifest["topics"]["readings"]
    assert r["rows"] == len(readings) and r["unparsed"] == 1
    assert r["schema_versions"] == [1]
    assert r["time_range"] == [min(x.measured_at for x in readings).isoformat(),
                               max(x.measured_at for x in readings).isoformat()]
    assert r["offsets"]["1"]["last"] == 9999
    days = {f["path"].split("/")[1] for f in r["files"]}
    assert days == {"day=2026-01-05", "day=2026-01-06", "unparsed"}
    assert sum(f["rows"] for f in r["files"]) == len(readings) + 1
    assert len(r["files"]) > 3  # several parts: batches of 500 rows
    assert manifest["topics"]["alerts"]["rows"] == 1
    assert manifest["stop_reason"] == "test"
    assert verify(tmp_path) == []
    # the readings come back identical, in per-partition broker order
    back = load_readings(tmp_path)
    assert sorted(back, key=lambda x: x.reading_id) == sorted(readings, key=lambda x: x.reading_id)
    unparsed = pq.read_table(tmp_path / "readings" / "unparsed" / "part-00000.parquet").to_pylist()
    assert unparsed[0]["value"] == b"\xffgarbage" and "not JSON" in unparsed[0]["reason"]


def test_a_failing_source_still_writes_the_buffered_batch(tmp_path):
    _, msgs = messages(1, 1)

    def source():
        yield from msgs[:100]
        raise KeyboardInterrupt

    writer = RecordingWriter(tmp_path, LABELS, batch_rows=10_000, clock=lambda: NOW)
    with pytest.raises(KeyboardInterrupt):
        record(source(), writer, lambda: "SIGINT")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["topics"]["readings"]["rows"] == 100
    assert manifest["stop_reason"] == "SIGINT"
    assert len(load_readings(tmp_path)) == 100


def test_heartbeats_report_progress_only_when_the_count_changed(tmp_path):
    _, msgs = messages(1, 1)
    seen: list[int] = []
    record([None, *msgs[:3], None, None, msgs[3], None], RecordingWriter(tmp_path, LABELS, clock=lambda: NOW),
           lambda: "end", seen.append)
    assert seen == [3, 4]


def test_verify_detects_a_changed_file(tmp_path):
    _, msgs = messages(1, 1)
    record(msgs, RecordingWriter(tmp_path, LABELS, clock=lambda: NOW + timedelta(0)), lambda: "end")
    part = next((tmp_path / "readings").glob("day=*/part-*.parquet"))
    part.write_bytes(part.read_bytes() + b"x")
    assert verify(tmp_path) and "checksum mismatch" in verify(tmp_path)[0]
