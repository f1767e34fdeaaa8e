"""Research replay on a real broker: record, replay and record again; replay through a real worker = offline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from monitor.__main__ import main as vigil
from monitor.consent import Action, ConsentEvent, Scope
from monitor.consent_store import ConsentStore
from monitor.evaluate import by_patient
from monitor.policies import engine_alerts
from monitor.reading_table import load_readings, read_reading_table, write_reading_file
from monitor.record import RECEIVE_TIME_COLUMNS
from monitor.records import Alert, from_json
from monitor.synthetic_cohort import CohortSpec, generate
from monitor.topics import ALERTS, READINGS, namespaced
from tests.integration.kafka_helpers import ROOT, create_namespace, new_namespace, read_topic, wait_until

SECRET = b"vigil-test-secret-0123456789"


def cohort_file(tmp_path: Path, spec: CohortSpec) -> tuple[Path, list]:
    readings = generate(spec, SECRET)
    return write_reading_file(readings, tmp_path / "cohort.parquet"), readings


def grant_research(db: Path, source: Path) -> Path:
    """A study namespace replays only research-consented patients: every patient of this file consents."""
    store = ConsentStore(db)
    for key in sorted({r.patient_key for r in load_readings(source)}):
        store.record(ConsentEvent(key, Scope.RESEARCH, Action.GRANT, "research-v1",
                                  datetime(2020, 1, 1, tzinfo=UTC), "test-research-office"))
    return db


def replay_to(bootstrap: str, source: Path, namespace: str) -> None:
    consent_db = grant_research(source.parent / f"{namespace}-consent.sqlite", source)
    assert vigil(["replay", str(source), "--speed", "max", "--to-topic", READINGS, "--namespace", namespace,
                  "--bootstrap", bootstrap, "--no-progress", "--consent-db", str(consent_db)]) == 0


def record_all(bootstrap: str, namespace: str, out: Path) -> dict:
    assert vigil(["record", "--topics", "readings", "--namespace", namespace, "--bootstrap", bootstrap,
                  "--from-beginning", "--until-end", "--out", str(out)]) == 0
    return json.loads((out / "manifest.json").read_text())


def content(recording: Path) -> pa.Table:
    table = read_reading_table(recording)
    return table.drop_columns(list(RECEIVE_TIME_COLUMNS)).sort_by([("partition", "ascending"),
                                                                   ("offset", "ascending")])


def test_record_replay_record_gives_identical_parquet_content(kafka_bootstrap, tmp_path):
    source, readings = cohort_file(tmp_path, CohortSpec(patients=4, days=2, seed=21))
    first_ns, second_ns = new_namespace("rt"), new_namespace("rt")
    create_namespace(kafka_bootstrap, first_ns)
    create_namespace(kafka_bootstrap, second_ns)

    replay_to(kafka_bootstrap, source, first_ns)
    first = record_all(kafka_bootstrap, first_ns, tmp_path / "first")
    replay_to(kafka_bootstrap, tmp_path / "first", second_ns)
    second = record_all(kafka_bootstrap, second_ns, tmp_path / "second")

    assert first["topics"]["readings"]["rows"] == second["topics"]["readings"]["rows"] == len(readings)
    assert first["topics"]["readings"]["offsets"] == second["topics"]["readings"]["offsets"]
    assert first["topics"]["readings"]["time_range"] == second["topics"]["readings"]["time_range"]
    a, b = content(tmp_path / "first"), content(tmp_path / "second")
    assert a.num_rows == len(readings)
    assert a.equals(b), "the second recording differs from the first beyond receive times"
    # and the recorded readings are the imported ones, field for field
    assert sorted(load_readings(tmp_path / "second"), key=lambda r: r.reading_id) == \
        sorted(readings, key=lambda r: r.reading_id)


def test_record_stops_on_sigint_without_losing_the_buffered_batch(kafka_bootstrap, namespace, tmp_path):
    source, readings = cohort_file(tmp_path, CohortSpec(patients=2, days=1, seed=8))
    out = tmp_path / "rec"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "record.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "record", "--topics", "readings,alerts",
                                 "--namespace", namespace, "--bootstrap", kafka_bootstrap, "--out", str(out),
                                 "--from-beginning", "--batch-rows", "1000000"],
                                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: b"vigil: recording" in log.read_bytes(), timeout_s=60)
        replay_to(kafka_bootstrap, source, namespace)
        marker = f"recorded {len(readings)} record(s)".encode()
        assert wait_until(lambda: marker in log.read_bytes(), timeout_s=60), log.read_text()
        assert not (out / "manifest.json").exists()  # everything is still in the buffer
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stop_reason"] == "SIGINT"
    assert manifest["topics"]["readings"]["rows"] == len(readings)
    assert len(load_readings(out)) == len(readings)


@pytest.mark.timeout(900)  # about 2.5 min on a quiet 2-core machine; much longer when the cores are shared
def test_broker_replay_through_a_worker_equals_offline_evaluation(kafka_bootstrap, namespace, make_worker,
                                                                  tmp_path):
    """The acceptance cohort: 10 patients x 7 days (about 20k readings)."""
    source, _ = cohort_file(tmp_path, CohortSpec(patients=10, days=7, seed=42))
    file_readings = load_readings(source)
    offline = [a for rs in by_patient(file_readings).values() for a in engine_alerts(rs)]
    assert len(offline) > 100, "the cohort must exercise the alert paths"

    worker = make_worker(namespace).start()
    replay_to(kafka_bootstrap, source, namespace)
    records = read_topic(kafka_bootstrap, namespaced(ALERTS, namespace), min_count=len(offline),
                         timeout_s=800, settle_s=5.0)
    worker.stop()
    online = [from_json(value, Alert) for _, value in records]

    def keyed(alerts: list[Alert]) -> dict[str, dict]:
        return {a.record_key: a.to_dict() for a in alerts}

    assert len(online) == len(offline)
    assert keyed(online) == keyed(offline)
    for pkey in {a.patient_key for a in offline}:  # and each patient's alerts come out in the same order
        assert [a.record_key for a in online if a.patient_key == pkey] == \
               [a.record_key for a in offline if a.patient_key == pkey]
