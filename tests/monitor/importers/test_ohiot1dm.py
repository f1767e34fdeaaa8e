from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.importers.common import ImportFailedError, check_bad_share, pseudonymize
from monitor.importers.ohiot1dm import import_ohiot1dm
from monitor.records import ReadingKind, RecordError

SECRET = b"vigil-test-secret-0123456789"


def test_supported_sections_become_readings(fixture_path):
    report = import_ohiot1dm(fixture_path("ohiot1dm_559.xml"), SECRET)
    got = [(r.kind, r.value, r.unit, r.context) for r in report.readings]
    assert got == [
        (ReadingKind.CGM, 101.0, "mg/dL", None), (ReadingKind.CGM, 98.0, "mg/dL", None),
        (ReadingKind.CGM, 88.0, "mg/dL", None),
        (ReadingKind.GLUCOSE, 74.0, "mg/dL", None),
        (ReadingKind.INSULIN, 0.9, "U/h", "basal_rate"),
        (ReadingKind.INSULIN, 5.2, "U", "rapid:normal"),
        (ReadingKind.CARBS, 50.0, "g", "meal:Breakfast"),
        (ReadingKind.HEART_RATE, 64.0, "bpm", None),
    ]
    assert {r.patient_key for r in report.readings} == {pseudonymize("ohiot1dm:559", SECRET)}
    assert report.readings[0].measured_at == datetime(2021, 12, 7, 1, 17, tzinfo=UTC)


def test_malformed_events_and_unsupported_sections_are_reported(fixture_path):
    report = import_ohiot1dm(fixture_path("ohiot1dm_559.xml"), SECRET)
    assert [(b.line, b.reason) for b in report.bad] == [
        (6, "glucose_level: value: not a number: 'not-a-number'"),
        (7, "glucose_level: ts: '31-13-2021 01:32:00' is not dd-mm-yyyy HH:MM:SS"),
        (21, "bolus: missing dose"),
    ]
    assert report.unsupported == {
        "exercise event (no matching kind in the Reading contract v1)": 1,
        "sleep event (no matching kind in the Reading contract v1)": 1,
        "temp_basal event (no matching kind in the Reading contract v1)": 1,
    }
    assert report.rows_seen == 11
    with pytest.raises(ImportFailedError):
        check_bad_share(report)


def test_local_timezone_is_applied(fixture_path):
    report = import_ohiot1dm(fixture_path("ohiot1dm_559.xml"), SECRET, timezone="America/New_York")
    assert report.readings[0].measured_at == datetime(2021, 12, 7, 6, 17, tzinfo=UTC)


def test_broken_xml_fails_with_line(tmp_path):
    path = tmp_path / "x.xml"
    path.write_text('<patient id="1">\n<glucose_level>\n<event ts="07-12-2021 01:17:00" value="1"\n</patient>')
    with pytest.raises(RecordError, match="line 4"):
        import_ohiot1dm(path, SECRET)
