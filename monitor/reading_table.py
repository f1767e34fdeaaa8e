"""The Reading contract as an Arrow table, so recordings, imports, replay and evaluation share one file format."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from monitor.records import Reading, ReadingKind, RecordError, Source

TS: Final = pa.timestamp("us", tz="UTC")

READING_SCHEMA: Final = pa.schema([
    pa.field("schema_version", pa.int32(), nullable=False),
    pa.field("reading_id", pa.string(), nullable=False),
    pa.field("patient_key", pa.string(), nullable=False),
    pa.field("device_id", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("value", pa.float64()),
    pa.field("unit", pa.string(), nullable=False),
    pa.field("measured_at", TS, nullable=False),
    pa.field("received_at", TS, nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("components", pa.map_(pa.string(), pa.float64())),
    pa.field("value_status", pa.string()),
    pa.field("original_value", pa.float64()),
    pa.field("original_unit", pa.string()),
    pa.field("sequence", pa.int64()),
    pa.field("flags", pa.list_(pa.string())),
    pa.field("context", pa.string()),
])
READING_COLUMNS: Final = tuple(READING_SCHEMA.names)
REQUIRED_COLUMNS: Final = ("reading_id", "patient_key", "device_id", "kind", "value", "unit", "measured_at")


def reading_row(r: Reading) -> dict[str, Any]:
    """One Reading as a row of READING_SCHEMA."""
    return {
        "schema_version": r.schema_version,
        "reading_id": r.reading_id,
        "patient_key": r.patient_key,
        "device_id": r.device_id,
        "kind": r.kind.value,
        "value": r.value,
        "unit": r.unit,
        "measured_at": r.measured_at,
        "received_at": r.received_at,
        "source": r.source.value,
        "components": list(r.components.items()),
        "value_status": r.value_status,
        "original_value": r.original_value,
        "original_unit": r.original_unit,
        "sequence": r.sequence,
        "flags": list(r.flags),
        "context": r.context,
    }


def readings_to_table(readings: Iterable[Reading], extra: dict[str, pa.Array] | None = None) -> pa.Table:
    rows = [reading_row(r) for r in readings]
    table = pa.Table.from_pylist(rows, schema=READING_SCHEMA)
    for name, column in (extra or {}).items():
        table = table.append_column(name, column)
    return table


def _components(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): float(v) for k, v in value.items()}
    return {str(k): float(v) for k, v in value}


def _present(value: Any) -> Any:
    """None for missing cells, including the NaN pandas uses for a missing number."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def row_to_reading(row: dict[str, Any]) -> Reading:
    """Rebuilds a Reading from a row; raises RecordError with the reason when the row does not fit the contract."""
    try:
        measured = row["measured_at"]
        received = row.get("received_at") or measured
        version = _present(row.get("schema_version", 1))
        value = _present(row.get("value"))
        seq = _present(row.get("sequence"))
        original = _present(row.get("original_value"))
        return Reading(
            reading_id=str(row["reading_id"]),
            patient_key=str(row["patient_key"]),
            device_id=str(row["device_id"]),
            kind=ReadingKind(row["kind"]),
            value=None if value is None else float(value),
            unit=str(row["unit"]),
            measured_at=measured.astimezone(UTC) if measured.tzinfo else measured,
            received_at=received.astimezone(UTC) if received.tzinfo else received,
            source=Source(row.get("source") or "import"),
            components=_components(row.get("components")),
            value_status=row.get("value_status"),
            original_value=None if original is None else float(original),
            original_unit=row.get("original_unit"),
            sequence=None if seq is None else int(seq),
            flags=() if row.get("flags") is None else tuple(str(f) for f in row["flags"]),
            context=row.get("context"),
            schema_version=1 if version is None else int(version),
        )
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"row does not fit the Reading contract: {type(exc).__name__}: {exc}") from exc


def table_to_readings(table: pa.Table) -> list[Reading]:
    """The table's rows as Readings, built column by column; a table that does not fit the contract is re-read row
    by row, so the error (RecordError with the reason of the first bad row) is the same as row_to_reading's."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise RecordError(f"not a reading table: missing columns {', '.join(missing)}")
    try:
        return _readings_by_column(table)
    except (RecordError, KeyError, TypeError, ValueError, AttributeError, OverflowError, pa.ArrowException):
        return [row_to_reading(row) for row in table.to_pylist()]


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _instants(column: pa.ChunkedArray, cache: dict[int, datetime]) -> list[datetime | None]:
    """UTC datetimes of a time-zone-aware microsecond timestamp column without converting each cell through its
    zone (Arrow stores UTC epoch microseconds); equal instants share one datetime object."""
    out: list[datetime | None] = []
    append = out.append
    for us in column.cast(pa.int64()).to_pylist():
        if us is None:
            append(None)
            continue
        at = cache.get(us)
        if at is None:
            at = cache[us] = _EPOCH + timedelta(microseconds=us)
        append(at)
    return out


def _utc_column(table: pa.Table, name: str, cache: dict[int, datetime]) -> list[Any]:
    column = table.column(name)
    if pa.types.is_timestamp(column.type) and column.type.unit == "us" and column.type.tz is not None:
        return _instants(column, cache)
    return [None if t is None else t.astimezone(UTC) if t.tzinfo else t for t in column.to_pylist()]


def _texts(values: list[Any], column: pa.ChunkedArray) -> list[Any]:
    """str() of each cell, as row_to_reading does; a string column without nulls already holds str."""
    if pa.types.is_string(column.type) and column.null_count == 0:
        return values
    return [str(v) for v in values]


def _floats(values: list[Any]) -> list[float | None]:
    return [None if (v := _present(x)) is None else float(v) for x in values]


def _readings_by_column(table: pa.Table) -> list[Reading]:
    """Same Readings as row_to_reading over table.to_pylist() (for a table that fits the contract), ~10x faster:
    one to_pylist per column, kinds and sources looked up once per distinct value."""
    n = table.num_rows
    names = set(table.column_names)

    def cells(name: str) -> list[Any]:
        return table.column(name).to_pylist() if name in names else [None] * n

    cache: dict[int, datetime] = {}
    measured = _utc_column(table, "measured_at", cache)
    received = _utc_column(table, "received_at", cache) if "received_at" in names else [None] * n
    kinds: dict[Any, ReadingKind] = {}
    sources: dict[Any, Source] = {}
    versions = cells("schema_version") if "schema_version" in names else [1] * n
    columns = (
        _texts(cells("reading_id"), table.column("reading_id")),
        _texts(cells("patient_key"), table.column("patient_key")),
        _texts(cells("device_id"), table.column("device_id")),
        cells("kind"), _floats(cells("value")), _texts(cells("unit"), table.column("unit")),
        measured, received, cells("source"), cells("components"), cells("value_status"),
        _floats(cells("original_value")), cells("original_unit"), cells("sequence"), cells("flags"),
        cells("context"), versions,
    )
    out: list[Reading] = []
    append = out.append
    for (reading_id, patient_key, device_id, kind, value, unit, measured_at, received_at, source, components,
         value_status, original_value, original_unit, seq_cell, flags, context, version_cell) in zip(*columns,
                                                                                                     strict=True):
        k = kinds.get(kind)
        if k is None:
            k = kinds[kind] = ReadingKind(kind)
        src = sources.get(source)
        if src is None:
            src = sources[source] = Source(source or "import")
        seq = _present(seq_cell)
        version = _present(version_cell)
        named = {} if components is None or components == [] else _components(components)
        tags = () if flags is None or flags == [] else tuple(map(str, flags))
        append(Reading(
            reading_id, patient_key, device_id, k, value, unit, measured_at, received_at or measured_at, src, named,
            value_status, original_value, original_unit, None if seq is None else int(seq), tags, context,
            1 if version is None else int(version),
        ))
    return out


def write_reading_file(readings: Sequence[Reading], path: Path) -> Path:
    """Writes readings to one Parquet file (the output of `vigil import` and the input of replay/evaluate)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(readings_to_table(readings), path)
    return path


def conform(table: pa.Table) -> pa.Table:
    """Selects the contract columns in contract order, casting where the file used another physical type."""
    columns = []
    for fld in READING_SCHEMA:
        if fld.name in table.column_names:
            columns.append(table.column(fld.name).cast(fld.type))
        else:
            columns.append(pa.nulls(table.num_rows, fld.type))
    return pa.Table.from_arrays(columns, schema=pa.schema([f.with_nullable(True) for f in READING_SCHEMA]))


def read_reading_table(path: Path) -> pa.Table:
    """A reading Parquet file, or the readings of a recording folder in broker order (partition, offset)."""
    if path.is_dir():
        files = sorted((path / "readings").glob("day=*/part-*.parquet"))
        if not files:
            raise RecordError(f"{path}: no readings/day=*/part-*.parquet in this recording")
        table = pa.concat_tables([pq.ParquetFile(f).read() for f in files], promote_options="permissive")
        if "partition" in table.column_names:
            table = table.sort_by([("partition", "ascending"), ("offset", "ascending")])
        return table
    return pq.ParquetFile(path).read()  # same table as pq.read_table(path), without importing pyarrow.dataset


def load_readings(path: Path) -> list[Reading]:
    return table_to_readings(read_reading_table(path))
