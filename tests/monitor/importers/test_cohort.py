from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitor.importers.cohort import import_cohort
from monitor.importers.common import ImportFailedError, check_bad_share, pseudonymize
from monitor.reading_table import readings_to_table
from monitor.records import Source
from monitor.synthetic_cohort import CohortSpec, generate

SECRET = b"vigil-test-secret-0123456789"


def test_full_reading_rows_round_trip(tmp_path):
    readings = generate(CohortSpec(patients=2, days=1, seed=3), SECRET)
    path = tmp_path / "cohort.parquet"
    pq.write_table(readings_to_table(readings), path)
    report = import_cohort(path, SECRET)
    assert report.bad == []
    assert report.readings == readings


def test_raw_patient_ids_are_pseudonymized_and_bad_rows_counted(tmp_path):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    table = pa.table({
        "patient_id": ["adult#001", "adult#001", "adult#002", "adult#002", None],
        "measured_at": pa.array([t0, t0 + timedelta(minutes=5), t0, t0 + timedelta(minutes=5), t0],
                                type=pa.timestamp("us", tz="UTC")),
        "value": [120.0, 2000.0, 80.0, 75.0, 90.0],
    })
    path = tmp_path / "sim.parquet"
    pq.write_table(table, path)
    report = import_cohort(path, SECRET)
    assert [(r.patient_key, r.value) for r in report.readings] == [
        (pseudonymize("adult#001", SECRET), 120.0), (pseudonymize("adult#002", SECRET), 80.0),
        (pseudonymize("adult#002", SECRET), 75.0)]
    assert all(r.source is Source.SIMULATOR for r in report.readings)
    assert [b.line for b in report.bad] == [2, 5]
    with pytest.raises(ImportFailedError):
        check_bad_share(report, 0.3)


def test_the_simulators_columns_import_as_they_are(tmp_path):
    """models/simulate.py writes these columns (large strings, a subgroup column, no flags or components)."""
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    key = pseudonymize("adult#001", SECRET)
    ts = pa.timestamp("us", tz="UTC")
    table = pa.table({
        "reading_id": pa.array(["r_1", "r_2"], pa.large_string()),
        "patient_key": pa.array([key, key], pa.large_string()),
        "device_id": pa.array(["GuardianRT", "pump"], pa.large_string()),
        "kind": pa.array(["cgm", "insulin"], pa.large_string()),
        "value": [142.5, 3.0],
        "unit": pa.array(["mg/dL", "U"], pa.large_string()),
        "measured_at": pa.array([t0, t0 + timedelta(minutes=5)], ts),
        "received_at": pa.array([t0, t0 + timedelta(minutes=5)], ts),
        "source": pa.array(["simulator", "simulator"], pa.large_string()),
        "context": pa.array([None, "rapid"], pa.large_string()),
        "sequence": pa.array([0, None], pa.int64()),
        "subgroup": pa.array(["adult", "adult"], pa.large_string()),
    })
    path = tmp_path / "sim.parquet"
    pq.write_table(table, path)
    report = import_cohort(path, SECRET)
    assert report.bad == []
    assert [(r.reading_id, r.patient_key, r.value, r.context, r.sequence) for r in report.readings] == [
        ("r_1", key, 142.5, None, 0), ("r_2", key, 3.0, "rapid", None)]
