"""Nightscout entries (entries.json and the API v1 TSV export) and treatments (carbs, insulin) to readings."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from monitor.importers.common import ImportReport, glucose_mgdl, make_reading
from monitor.records import ReadingKind, RecordError

# Nightscout trend arrows (entries "direction"); kept as the reading's context.
DIRECTIONS: Final = frozenset({"DoubleUp", "SingleUp", "FortyFiveUp", "Flat", "FortyFiveDown", "SingleDown",
                               "DoubleDown", "NOT COMPUTABLE", "RATE OUT OF RANGE", "NONE"})
BOLUS_EVENTS: Final = frozenset({"Meal Bolus", "Correction Bolus", "Snack Bolus", "Combo Bolus", "Bolus"})


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def iter_json_array(text: str) -> Iterator[tuple[int, Any]]:
    """Yields (line number, element) of a JSON array; a syntax error raises RecordError with its line."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text[pos:pos + 1] == "[":
        raise RecordError(f"line {_line_of(text, pos)}: expected a JSON array of entries")
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise RecordError(f"line {_line_of(text, pos)}: unterminated JSON array")
        if text[pos] == "]":
            return
        try:
            element, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise RecordError(f"line {exc.lineno}: not JSON: {exc.msg}") from exc
        yield _line_of(text, pos), element
        pos = end


def _entry_time(entry: dict[str, Any]) -> datetime:
    date = entry.get("date")
    if isinstance(date, int | float) and not isinstance(date, bool):
        return datetime.fromtimestamp(date / 1000.0, tz=UTC)
    text = entry.get("dateString") or entry.get("sysTime")
    if isinstance(text, str):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise RecordError(f"dateString: not an ISO-8601 time: {text!r}") from exc
        if parsed.tzinfo is None:
            raise RecordError(f"dateString: {text!r} has no time zone")
        return parsed.astimezone(UTC)
    raise RecordError("neither date (epoch ms) nor dateString")


def _entry(report: ImportReport, line: int, entry: Any, pkey: str) -> None:
    report.rows_seen += 1
    if not isinstance(entry, dict):
        report.add_bad(line, f"expected an object, got {type(entry).__name__}")
        return
    kind = entry.get("type", "sgv")
    try:
        if kind == "sgv":
            value = glucose_mgdl(entry.get("sgv"), "sgv")
            reading_kind = ReadingKind.CGM
        elif kind == "mbg":
            value = glucose_mgdl(entry.get("mbg"), "mbg")
            reading_kind = ReadingKind.GLUCOSE
        else:
            report.add_unsupported(f"entry type {kind!r}")
            return
        at = _entry_time(entry)
        direction = entry.get("direction")
        if direction is not None and direction not in DIRECTIONS:
            raise RecordError(f"direction: unknown trend {direction!r}")
    except RecordError as exc:
        report.add_bad(line, exc.reason)
        return
    device = str(entry.get("device") or "nightscout")
    report.readings.append(make_reading(pkey, device, reading_kind, value, "mg/dL", at,
                                        context=None if direction is None else f"direction:{direction}"))


def import_entries_json(text: str, pkey: str, report: ImportReport) -> ImportReport:
    """entries.json: a JSON array of {sgv, date, dateString, direction, device, type}."""
    for line, entry in iter_json_array(text):
        _entry(report, line, entry, pkey)
    return report


def import_entries_tsv(text: str, pkey: str, report: ImportReport) -> ImportReport:
    """The API v1 text export (/api/v1/entries): dateString, date, sgv, direction, device, tab-separated."""
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        cells = [c.strip().strip('"') for c in raw.split("\t")]
        if len(cells) < 3:
            report.rows_seen += 1
            report.add_bad(number, f"expected at least 3 tab-separated fields, got {len(cells)}")
            continue
        entry: dict[str, Any] = {"dateString": cells[0], "sgv": cells[2], "type": "sgv"}
        with contextlib.suppress(ValueError):  # fall back on dateString; a bad one is reported there
            entry["date"] = int(cells[1])
        if len(cells) > 3 and cells[3]:
            entry["direction"] = cells[3]
        if len(cells) > 4 and cells[4]:
            entry["device"] = cells[4]
        _entry(report, number, entry, pkey)
    return report


def _treatment_time(t: dict[str, Any]) -> datetime:
    text = t.get("created_at") or t.get("timestamp")
    if isinstance(text, int | float) and not isinstance(text, bool):
        return datetime.fromtimestamp(text / 1000.0, tz=UTC)
    if not isinstance(text, str):
        raise RecordError("created_at: missing")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RecordError(f"created_at: not an ISO-8601 time: {text!r}") from exc
    if parsed.tzinfo is None:
        raise RecordError(f"created_at: {text!r} has no time zone")
    return parsed.astimezone(UTC)


def _amount(t: dict[str, Any], name: str, high: float) -> float | None:
    value = t.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"{name}: not a number: {value!r}") from exc
    if not 0 <= number <= high:
        raise RecordError(f"{name}: {number:g} is outside 0-{high:g}")
    return number


def import_treatments_json(text: str, pkey: str, report: ImportReport, file: str = "treatments") -> ImportReport:
    """treatments.json: carbs (g) and insulin (U) become context readings; other event types are counted."""
    for line, t in iter_json_array(text):
        report.rows_seen += 1
        if not isinstance(t, dict):
            report.add_bad(line, f"expected an object, got {type(t).__name__}", file)
            continue
        try:
            at = _treatment_time(t)
            carbs = _amount(t, "carbs", 500.0)
            insulin = _amount(t, "insulin", 100.0)
        except RecordError as exc:
            report.add_bad(line, exc.reason, file)
            continue
        if carbs is None and insulin is None:
            report.add_unsupported(f"treatment {t.get('eventType', '?')!r} without carbs or insulin")
            continue
        device = str(t.get("enteredBy") or "nightscout-careportal")
        event = str(t.get("eventType") or "")
        if carbs:
            report.readings.append(make_reading(pkey, device, ReadingKind.CARBS, carbs, "g", at,
                                                context=f"event:{event}" if event else None))
        if insulin:
            kind = "rapid" if event in BOLUS_EVENTS or not event else str(t.get("insulinType") or "rapid")
            report.readings.append(make_reading(pkey, device, ReadingKind.INSULIN, insulin, "U", at, context=kind))
    return report


def import_nightscout(path: Path, pkey: str, treatments: Path | None = None) -> ImportReport:
    """Reads entries (JSON array or v1 TSV, detected from the first character) and optional treatments."""
    report = ImportReport(source_name=path.name)
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        import_entries_json(text, pkey, report)
    else:
        import_entries_tsv(text, pkey, report)
    if treatments is not None:
        import_treatments_json(treatments.read_text(encoding="utf-8"), pkey, report, treatments.name)
    return report
