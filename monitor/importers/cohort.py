"""The simulated cohort Parquet (columns follow the Reading contract) to readings, pseudonymizing raw patient ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from monitor.importers.common import ImportReport, glucose_mgdl, make_reading, pseudonymize
from monitor.pseudonym import is_patient_key
from monitor.reading_table import row_to_reading
from monitor.records import GLUCOSE_KINDS, ReadingKind, RecordError, Source

PATIENT_COLUMNS = ("patient_key", "patient_id", "patient")


def _key(row: dict[str, Any], secret: bytes, cache: dict[str, str]) -> str:
    for column in PATIENT_COLUMNS:
        ident = row.get(column)
        if ident is not None and str(ident).strip():
            text = str(ident).strip()
            if column == "patient_key" and is_patient_key(text):
                return text
            return cache.setdefault(text, pseudonymize(text, secret))
    raise RecordError(f"no patient id (one of {', '.join(PATIENT_COLUMNS)})")


def _time(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise RecordError(f"measured_at: expected a timestamp, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def import_cohort(path: Path, secret: bytes) -> ImportReport:
    """Full Reading rows are kept as they are (ids included); minimal rows (patient, time, glucose) get ids made."""
    report = ImportReport(source_name=path.name)
    table = pq.read_table(path)
    full = "reading_id" in table.column_names
    cache: dict[str, str] = {}
    for number, row in enumerate(table.to_pylist(), start=1):
        report.rows_seen += 1
        try:
            pkey = _key(row, secret, cache)
            if full:
                reading = row_to_reading({**row, "patient_key": pkey})
                if reading.kind in GLUCOSE_KINDS and reading.value is not None:
                    glucose_mgdl(reading.value, "value")
                if reading.source is not Source.SIMULATOR and "source" not in row:
                    reading = replace(reading, source=Source.SIMULATOR)
            else:
                at = _time(row.get("measured_at"))
                value = glucose_mgdl(row.get("value", row.get("glucose_mgdl")), "value")
                kind = ReadingKind(row.get("kind") or "cgm")
                reading = make_reading(pkey, str(row.get("device_id") or "simulator"), kind, value, "mg/dL", at)
                reading = replace(reading, source=Source.SIMULATOR)
        except (RecordError, ValueError) as exc:
            report.add_bad(number, getattr(exc, "reason", str(exc)))
            continue
        report.readings.append(reading)
    return report
