"""What every importer shares: pseudonymization, bad-row accounting and the bad-share gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from monitor.pseudonym import patient_key
from monitor.records import Reading, ReadingKind, RecordError, Source, reading_id_for

DEFAULT_MAX_BAD_SHARE: Final = 0.05
GLUCOSE_RANGE_MGDL: Final = (10.0, 1000.0)  # outside this a value is a sensor error code, not a glucose


class ImportFailedError(RuntimeError):
    """Raised when a file has more bad rows than the configured share; carries the report."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True, slots=True)
class BadRow:
    """One row that could not become a reading: where it is and why."""

    line: int
    reason: str
    file: str | None = None  # when one import reads several files (Nightscout entries and treatments)


@dataclass(slots=True)
class ImportReport:
    """The outcome of one import: readings made, rows refused (with lines) and rows deliberately not imported."""

    source_name: str
    readings: list[Reading] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    unsupported: dict[str, int] = field(default_factory=dict)
    rows_seen: int = 0

    def add_bad(self, line: int, reason: str, file: str | None = None) -> None:
        self.bad.append(BadRow(line, reason, file))

    def add_unsupported(self, what: str) -> None:
        self.unsupported[what] = self.unsupported.get(what, 0) + 1

    @property
    def bad_share(self) -> float:
        return len(self.bad) / self.rows_seen if self.rows_seen else 0.0

    def summary(self, limit: int = 20) -> str:
        lines = [f"{self.source_name}: {self.rows_seen} row(s), {len(self.readings)} reading(s), "
                 f"{len(self.bad)} malformed ({self.bad_share:.1%})"]
        lines += [f"  {b.file + ' ' if b.file else ''}line {b.line}: {b.reason}" for b in self.bad[:limit]]
        if len(self.bad) > limit:
            lines.append(f"  ... and {len(self.bad) - limit} more malformed row(s)")
        lines += [f"  not imported: {count} x {what}" for what, count in sorted(self.unsupported.items())]
        return "\n".join(lines)


def check_bad_share(report: ImportReport, max_bad_share: float = DEFAULT_MAX_BAD_SHARE) -> ImportReport:
    """Fails the whole import when too many rows are bad; otherwise returns the report unchanged."""
    if report.rows_seen == 0:
        raise ImportFailedError(f"{report.source_name}: no rows found", report)
    if report.bad_share > max_bad_share:
        raise ImportFailedError(f"{report.source_name}: {len(report.bad)} of {report.rows_seen} rows are malformed "
                           f"({report.bad_share:.1%} > allowed {max_bad_share:.1%})\n{report.summary()}", report)
    return report


def pseudonymize(enrolment_id: str, secret: bytes) -> str:
    return patient_key(enrolment_id, secret)


def glucose_mgdl(value: object, name: str = "glucose") -> float:
    """A plausible glucose in mg/dL from a JSON/CSV/XML value, or RecordError with the reason."""
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected a number, got a boolean")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise RecordError(f"{name}: not a number: {value!r}") from exc
    low, high = GLUCOSE_RANGE_MGDL
    if not low <= number <= high:
        raise RecordError(f"{name}: {number:g} mg/dL is outside the plausible range {low:g}-{high:g}")
    return number


def make_reading(pkey: str, device_id: str, kind: ReadingKind, value: float, unit: str, measured_at: datetime,
                 *, original_value: float | None = None, original_unit: str | None = None,
                 context: str | None = None, id_marker: str | None = None) -> Reading:
    """An imported reading with a deterministic id (device, kind, time), so a re-import de-duplicates."""
    device = device_id or "import"
    rid = reading_id_for(f"{pkey}/{device}{'/' + id_marker if id_marker else ''}", kind.value, None, measured_at)
    return Reading(reading_id=rid, patient_key=pkey, device_id=device, kind=kind, value=value, unit=unit,
                   measured_at=measured_at, received_at=measured_at, source=Source.IMPORT,
                   original_value=original_value, original_unit=original_unit, context=context)
