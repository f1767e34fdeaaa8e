from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.importers.common import ImportFailedError, check_bad_share, pseudonymize
from monitor.importers.nightscout import import_nightscout, iter_json_array
from monitor.records import ReadingKind, RecordError, Source

SECRET = b"vigil-test-secret-0123456789"

PKEY = pseudonymize("enrol-ns-1", SECRET)


def test_entries_json_good_rows_become_readings(fixture_path):
    report = import_nightscout(fixture_path("entries.json"), PKEY)
    values = [(r.kind, r.value) for r in report.readings]
    assert values == [(ReadingKind.CGM, 112.0), (ReadingKind.CGM, 98.0), (ReadingKind.CGM, 84.0),
                      (ReadingKind.GLUCOSE, 69.0), (ReadingKind.CGM, 62.0)]
    first = report.readings[0]
    assert first.measured_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert first.patient_key == PKEY and first.source is Source.IMPORT
    assert first.device_id == "xDrip-DexcomG6" and first.context == "direction:Flat"
    # dateString alone is enough when date is missing
    assert report.readings[2].measured_at == datetime(2023, 11, 14, 22, 28, 20, tzinfo=UTC)


def test_entries_json_malformed_rows_are_reported_with_lines(fixture_path):
    report = import_nightscout(fixture_path("entries.json"), PKEY)
    assert [(b.line, b.reason.split(":")[0]) for b in report.bad] == [
        (4, "sgv"), (6, "neither date (epoch ms) nor dateString"), (9, "direction")]
    assert report.unsupported == {"entry type 'cal'": 1}
    assert report.rows_seen == 9
    with pytest.raises(ImportFailedError, match="3 of 9 rows are malformed"):
        check_bad_share(report, 0.2)
    assert check_bad_share(report, 0.4) is report


def test_v1_tsv_export(fixture_path):
    report = import_nightscout(fixture_path("entries_v1.tsv"), PKEY)
    assert [r.value for r in report.readings] == [112.0, 98.0, 66.0]
    assert [(b.line, b.reason) for b in report.bad] == [
        (3, "sgv: 5 mg/dL is outside the plausible range 10-1000"),
        (4, "expected at least 3 tab-separated fields, got 2")]


def test_treatments_become_carbs_and_insulin_context(fixture_path):
    report = import_nightscout(fixture_path("entries.json"), PKEY, fixture_path("treatments.json"))
    context = [(r.kind, r.value, r.unit, r.context) for r in report.readings
               if r.kind in (ReadingKind.CARBS, ReadingKind.INSULIN)]
    assert context == [(ReadingKind.CARBS, 45.0, "g", "event:Meal Bolus"), (ReadingKind.INSULIN, 4.5, "U", "rapid"),
                       (ReadingKind.CARBS, 15.0, "g", "event:Carb Correction")]
    assert [(b.file, b.line, b.reason.split(":")[0]) for b in report.bad[3:]] == [
        ("treatments.json", 5, "created_at"), ("treatments.json", 6, "carbs")]
    assert "treatments.json line 6: carbs" in report.summary()
    assert report.unsupported["treatment 'Note' without carbs or insulin"] == 1


def test_reimport_gives_identical_ids(fixture_path):
    a = import_nightscout(fixture_path("entries.json"), PKEY)
    b = import_nightscout(fixture_path("entries.json"), PKEY)
    assert [r.reading_id for r in a.readings] == [r.reading_id for r in b.readings]
    assert len({r.reading_id for r in a.readings}) == len(a.readings)


@pytest.mark.parametrize(("text", "message"), [
    ('{"sgv": 1}', "expected a JSON array"),
    ('[{"sgv": 1},\n {"sgv": }]', "line 2: not JSON"),
    ('[{"sgv": 1}', "unterminated"),
])
def test_broken_json_fails_with_line(text, message):
    with pytest.raises(RecordError, match=message):
        list(iter_json_array(text))
