from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.importers.common import ImportFailedError, check_bad_share, pseudonymize
from monitor.importers.csv_generic import CsvMapping, import_csv
from monitor.records import MGDL_PER_MMOLL

SECRET = b"vigil-test-secret-0123456789"

MAPPING = CsvMapping(time_col="timestamp", value_col="glucose_mmol", patient_col="patient", device_col="meter",
                     unit="mmol/L", time_format="%Y-%m-%d %H:%M", timezone="Europe/Berlin")


def test_mmol_csv_with_patient_column(fixture_path):
    report = import_csv(fixture_path("glucose_mmol.csv"), MAPPING, SECRET)
    got = [(r.patient_key, r.value, r.original_value, r.original_unit) for r in report.readings]
    a, b = pseudonymize("enrol-A", SECRET), pseudonymize("enrol-B", SECRET)
    assert got == [(key, round(mmol * MGDL_PER_MMOLL, 3), mmol, "mmol/L")
                   for key, mmol in [(a, 6.2), (a, 5.1), (b, 3.4), (b, 3.1)]]
    # 08:00 in Berlin (UTC+1 in March) is 07:00 UTC
    assert report.readings[0].measured_at == datetime(2024, 3, 1, 7, 0, tzinfo=UTC)
    assert all("enrol" not in r.patient_key for r in report.readings)


def test_malformed_csv_rows_have_line_numbers(fixture_path):
    report = import_csv(fixture_path("glucose_mmol.csv"), MAPPING, SECRET)
    assert [(b.line, b.reason) for b in report.bad] == [
        (5, "glucose_mmol: not a number: 'abc'"),
        (6, "empty glucose_mmol"),
        (7, "timestamp: cannot read time 'not a time'"),
        (8, "patient: empty patient id"),
        (9, "1 cell(s) more than the header"),
    ]
    assert report.rows_seen == 9
    with pytest.raises(ImportFailedError):
        check_bad_share(report, 0.5)


def test_mgdl_csv_for_one_patient(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("time;sgv\n2024-03-01T08:00:00Z;120\n2024-03-01T08:05:00+00:00;95\n")
    report = import_csv(path, CsvMapping(value_col="sgv", delimiter=";"), SECRET, patient="enrol-C")
    assert [r.value for r in report.readings] == [120.0, 95.0]
    assert {r.patient_key for r in report.readings} == {pseudonymize("enrol-C", SECRET)}
    assert report.bad == []


def test_missing_column_fails_the_file(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("when,sgv\n2024-03-01T08:00:00Z,120\n")
    with pytest.raises(ValueError, match="missing column"):
        import_csv(path, CsvMapping(value_col="sgv"), SECRET, patient="x")


def test_unit_is_checked():
    with pytest.raises(ValueError):
        CsvMapping(unit="mg")
