"""OhioT1DM XML (one <patient> per file) to readings: glucose, finger sticks, meals, bolus and basal insulin."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from xml.parsers import expat
from zoneinfo import ZoneInfo

from monitor.importers.common import ImportReport, glucose_mgdl, make_reading, pseudonymize
from monitor.records import ReadingKind, RecordError

TS_FORMAT: Final = "%d-%m-%Y %H:%M:%S"
# Sections the Reading contract v1 cannot carry; their events are counted in the report, never silently dropped.
UNSUPPORTED: Final = frozenset({"exercise", "sleep", "work", "stressors", "hypo_event", "illness", "temp_basal",
                                "basis_gsr", "basis_skin_temperature", "basis_air_temperature", "basis_steps",
                                "basis_sleep", "acceleration"})
SUPPORTED: Final = frozenset({"glucose_level", "finger_stick", "meal", "bolus", "basal", "basis_heart_rate"})


def _ts(attrs: dict[str, str], name: str, tz: ZoneInfo) -> datetime:
    text = attrs.get(name)
    if not text:
        raise RecordError(f"missing {name}")
    try:
        return datetime.strptime(text, TS_FORMAT).replace(tzinfo=tz).astimezone(UTC)
    except ValueError as exc:
        raise RecordError(f"{name}: {text!r} is not dd-mm-yyyy HH:MM:SS") from exc


def _number(attrs: dict[str, str], name: str, low: float, high: float) -> float:
    text = attrs.get(name)
    if text is None or text == "":
        raise RecordError(f"missing {name}")
    try:
        value = float(text)
    except ValueError as exc:
        raise RecordError(f"{name}: not a number: {text!r}") from exc
    if not low <= value <= high:
        raise RecordError(f"{name}: {value:g} is outside {low:g}-{high:g}")
    return value


class _Handler:
    def __init__(self, report: ImportReport, secret: bytes, tz: ZoneInfo, parser: expat.XMLParserType) -> None:
        self.report = report
        self.secret = secret
        self.tz = tz
        self.parser = parser
        self.pkey: str | None = None
        self.section: str | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        line = self.parser.CurrentLineNumber
        if name == "patient":
            ident = attrs.get("id", "").strip()
            if not ident:
                raise RecordError(f"line {line}: <patient> without an id")
            self.pkey = pseudonymize(f"ohiot1dm:{ident}", self.secret)
        elif name == "event":
            self.event(line, attrs)
        else:
            self.section = name

    def event(self, line: int, attrs: dict[str, str]) -> None:
        section = self.section or "?"
        if section in UNSUPPORTED or section not in SUPPORTED:
            self.report.add_unsupported(f"{section} event (no matching kind in the Reading contract v1)")
            return
        self.report.rows_seen += 1
        if self.pkey is None:
            self.report.add_bad(line, "event outside a <patient>")
            return
        try:
            reading = self.reading(section, attrs)
        except RecordError as exc:
            self.report.add_bad(line, f"{section}: {exc.reason}")
            return
        self.report.readings.append(reading)

    def reading(self, section: str, attrs: dict[str, str]):  # type: ignore[no-untyped-def]
        assert self.pkey is not None
        device = f"ohiot1dm-{section}"
        if section == "glucose_level":
            at = _ts(attrs, "ts", self.tz)
            return make_reading(self.pkey, "ohiot1dm-cgm", ReadingKind.CGM, glucose_mgdl(attrs.get("value"), "value"),
                                "mg/dL", at)
        if section == "finger_stick":
            at = _ts(attrs, "ts", self.tz)
            return make_reading(self.pkey, "ohiot1dm-meter", ReadingKind.GLUCOSE,
                                glucose_mgdl(attrs.get("value"), "value"), "mg/dL", at)
        if section == "meal":
            at = _ts(attrs, "ts", self.tz)
            return make_reading(self.pkey, device, ReadingKind.CARBS, _number(attrs, "carbs", 0, 500), "g", at,
                                context=f"meal:{attrs.get('type', '')}")
        if section == "bolus":
            at = _ts(attrs, "ts_begin", self.tz)
            return make_reading(self.pkey, device, ReadingKind.INSULIN, _number(attrs, "dose", 0, 100), "U", at,
                                context=f"rapid:{attrs.get('type', 'normal')}")
        if section == "basal":
            # A basal *rate*, not a dose: kept as an insulin context reading with unit U/h so models see it.
            at = _ts(attrs, "ts", self.tz)
            return make_reading(self.pkey, device, ReadingKind.INSULIN, _number(attrs, "value", 0, 20), "U/h", at,
                                context="basal_rate")
        at = _ts(attrs, "ts", self.tz)  # basis_heart_rate
        return make_reading(self.pkey, "ohiot1dm-basis", ReadingKind.HEART_RATE, _number(attrs, "value", 20, 250),
                            "bpm", at)

    def end(self, name: str) -> None:
        if name != "event":
            self.section = None


def import_ohiot1dm(path: Path, secret: bytes, timezone: str = "UTC") -> ImportReport:
    """Streams the XML with expat so every bad event is reported with its line number."""
    report = ImportReport(source_name=path.name)
    parser = expat.ParserCreate()
    handler = _Handler(report, secret, ZoneInfo(timezone), parser)
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    try:
        with path.open("rb") as fh:
            parser.ParseFile(fh)
    except expat.ExpatError as exc:
        raise RecordError(f"{path.name}: line {exc.lineno}: not well-formed XML ({expat.errors.messages[exc.code]})"
                          ) from exc
    return report
