"""Any CSV of glucose values to readings, with column-mapping flags and mg/dL or mmol/L units."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.importers.common import ImportReport, glucose_mgdl, make_reading, pseudonymize
from monitor.records import MGDL_PER_MMOLL, ReadingKind, RecordError


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """Which column holds what, and how to read its values."""

    time_col: str = "time"
    value_col: str = "glucose"
    patient_col: str | None = None
    device_col: str | None = None
    unit: str = "mg/dL"  # or mmol/L
    time_format: str | None = None  # strptime format; None means ISO-8601
    timezone: str = "UTC"  # for times without an offset
    delimiter: str = ","
    kind: ReadingKind = ReadingKind.CGM

    def __post_init__(self) -> None:
        if self.unit not in ("mg/dL", "mmol/L"):
            raise ValueError(f"unit must be mg/dL or mmol/L, not {self.unit!r}")


def _time(text: str, mapping: CsvMapping) -> datetime:
    try:
        parsed = (datetime.strptime(text, mapping.time_format) if mapping.time_format
                  else datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as exc:
        raise RecordError(f"{mapping.time_col}: cannot read time {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(mapping.timezone))
    return parsed.astimezone(UTC)


def import_csv(path: Path, mapping: CsvMapping, secret: bytes, patient: str | None = None) -> ImportReport:
    """One reading per row; the patient comes from patient_col (pseudonymized) or from `patient` for the file."""
    if mapping.patient_col is None and patient is None:
        raise ValueError("give a patient column or a patient enrolment id for the whole file")
    report = ImportReport(source_name=path.name)
    fixed_key = pseudonymize(patient, secret) if patient is not None else None
    keys: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=mapping.delimiter)
        header = reader.fieldnames or []
        needed = [c for c in (mapping.time_col, mapping.value_col, mapping.patient_col, mapping.device_col) if c]
        missing = [c for c in needed if c not in header]
        if missing:
            raise RecordError(f"{path.name}: missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
        for row in reader:
            line = reader.line_num
            report.rows_seen += 1
            try:
                if None in row:
                    raise RecordError(f"{len(row[None]) if row[None] else 0} cell(s) more than the header")
                raw_time = (row.get(mapping.time_col) or "").strip()
                raw_value = (row.get(mapping.value_col) or "").strip()
                if not raw_time or not raw_value:
                    raise RecordError(f"empty {mapping.time_col if not raw_time else mapping.value_col}")
                at = _time(raw_time, mapping)
                try:
                    original = float(raw_value.replace(",", ".") if mapping.delimiter != "," else raw_value)
                except ValueError as exc:
                    raise RecordError(f"{mapping.value_col}: not a number: {raw_value!r}") from exc
                value = glucose_mgdl(original * MGDL_PER_MMOLL if mapping.unit == "mmol/L" else original,
                                     mapping.value_col)
                if fixed_key is not None:
                    pkey = fixed_key
                else:
                    ident = (row.get(mapping.patient_col or "") or "").strip()
                    if not ident:
                        raise RecordError(f"{mapping.patient_col}: empty patient id")
                    pkey = keys.setdefault(ident, pseudonymize(ident, secret))
            except RecordError as exc:
                report.add_bad(line, exc.reason)
                continue
            device = (row.get(mapping.device_col) or "").strip() if mapping.device_col else ""
            report.readings.append(make_reading(
                pkey, device or "csv", mapping.kind, round(value, 3), "mg/dL", at,
                original_value=original if mapping.unit == "mmol/L" else None,
                original_unit="mmol/L" if mapping.unit == "mmol/L" else None))
    return report
