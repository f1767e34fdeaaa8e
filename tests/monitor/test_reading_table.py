from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.reading_table import (
    TS,
    _readings_by_column,
    read_reading_table,
    readings_to_table,
    row_to_reading,
    table_to_readings,
    write_reading_file,
)
from monitor.records import Reading, RecordError
from monitor.synthetic_cohort import CohortSpec, generate

SECRET = b"vigil-test-secret-0123456789"


def reference(table: pa.Table) -> list[Reading]:
    """The row-by-row conversion the columnar one must match."""
    return [row_to_reading(row) for row in table.to_pylist()]


def exact(readings: list[Reading]) -> list[tuple[Any, ...]]:
    """Every field with its type and the time zone objects, so equal-but-different values do not pass."""
    return [(*((getattr(r, f.name), type(getattr(r, f.name))) for f in dataclasses.fields(Reading)),
             r.measured_at.tzinfo, r.received_at.tzinfo) for r in readings]


def outcome(convert: Any, table: pa.Table) -> Any:
    try:
        return exact(convert(table))
    except RecordError as exc:
        return ("RecordError", str(exc))


def assert_converts_like_row_by_row(table: pa.Table) -> None:
    """Same readings from the columnar path itself (not its row-by-row fallback), or the same error."""
    expected = outcome(reference, table)
    if isinstance(expected, tuple):
        assert outcome(table_to_readings, table) == expected
    else:
        assert exact(_readings_by_column(table)) == expected


@pytest.fixture(scope="module")
def cohort() -> list[Reading]:
    return generate(CohortSpec(patients=3, days=2, seed=3), SECRET)


def test_a_cohort_file_loads_the_same_readings_as_row_by_row(cohort: list[Reading], tmp_path: Path) -> None:
    table = read_reading_table(write_reading_file(cohort, tmp_path / "c.parquet"))
    assert table.equals(pq.read_table(tmp_path / "c.parquet"))
    assert exact(_readings_by_column(table)) == exact(reference(table))
    assert table_to_readings(table) == cohort


def with_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values)


def small(cohort: list[Reading]) -> pa.Table:
    return readings_to_table(cohort[:6])


EDITS = {
    "nulls in optional columns": lambda t: t.drop_columns(["components", "flags", "sequence", "source"]),
    "no received_at or schema_version": lambda t: t.drop_columns(["received_at", "schema_version"]),
    "null received_at": lambda t: with_column(t, "received_at", pa.nulls(t.num_rows, TS)),
    "NaN value without status": lambda t: with_column(t, "value", pa.array([float("nan")] * t.num_rows)),
    "NaN value with status": lambda t: with_column(
        with_column(t, "value", pa.array([float("nan")] * t.num_rows)), "value_status",
        pa.array(["nan"] * t.num_rows)),
    "other time zone": lambda t: with_column(t, "measured_at", t.column("measured_at").cast(
        pa.timestamp("us", tz="America/New_York"))),
    "millisecond timestamps": lambda t: with_column(t, "measured_at", t.column("measured_at").cast(
        pa.timestamp("ms", tz="UTC"))),
    "naive timestamps": lambda t: with_column(t, "measured_at", t.column("measured_at").cast(pa.timestamp("us"))),
    "null measured_at": lambda t: with_column(t, "measured_at", pa.nulls(t.num_rows, TS)),
    "unknown kind": lambda t: with_column(t, "kind", pa.array(["glucose"] * (t.num_rows - 1) + ["mood"])),
    "null reading id": lambda t: with_column(t, "reading_id", pa.array([None] * t.num_rows, pa.string())),
    "integer values": lambda t: with_column(t, "value", pa.array(list(range(t.num_rows)), pa.int64())),
    "flags and components": lambda t: with_column(with_column(
        t, "flags", pa.array([["a", "b"]] * t.num_rows, pa.list_(pa.string()))), "components",
        pa.array([[("systolic", 120.0)]] * t.num_rows, pa.map_(pa.string(), pa.float64()))),
    "null component value": lambda t: with_column(t, "components", pa.array(
        [[("systolic", None)]] * t.num_rows, pa.map_(pa.string(), pa.float64()))),
    "empty source": lambda t: with_column(t, "source", pa.array([""] * t.num_rows)),
    "bad source": lambda t: with_column(t, "source", pa.array(["fax"] * t.num_rows)),
    "extra column": lambda t: t.append_column("partition", pa.array([1] * t.num_rows)),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_columnar_conversion_matches_row_by_row_including_errors(cohort: list[Reading], edit: str) -> None:
    assert_converts_like_row_by_row(EDITS[edit](small(cohort)))


def test_missing_required_columns_are_named(cohort: list[Reading]) -> None:
    with pytest.raises(RecordError, match="missing columns kind"):
        table_to_readings(small(cohort).drop_columns(["kind"]))


cells = st.fixed_dictionaries({
    "value": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=64)),
    "value_status": st.one_of(st.none(), st.sampled_from(["nan", "nres", ""])),
    "sequence": st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    "schema_version": st.sampled_from([1, 2]),
    "us": st.integers(0, 4_000_000_000_000_000),
    "received_later_us": st.one_of(st.none(), st.integers(0, 10**9)),
    "kind": st.sampled_from(["glucose", "glucose", "heart_rate", "insulin", "bogus"]),
    "source": st.one_of(st.none(), st.sampled_from(["ble", "import", "replay", "", "fax"])),
    "flags": st.one_of(st.none(), st.lists(st.sampled_from(["x", "late"]), max_size=2)),
    "context": st.one_of(st.none(), st.text(max_size=3)),
})


@settings(max_examples=60, deadline=None)
@given(st.lists(cells, min_size=1, max_size=8))
def test_random_tables_convert_like_row_by_row(rows: list[dict[str, Any]]) -> None:
    n = len(rows)
    columns: dict[str, pa.Array] = {
        "schema_version": pa.array([r["schema_version"] for r in rows], pa.int32()),
        "reading_id": pa.array([f"r{i}" for i in range(n)]),
        "patient_key": pa.array(["p"] * n),
        "device_id": pa.array(["d"] * n),
        "kind": pa.array([r["kind"] for r in rows]),
        "value": pa.array([r["value"] for r in rows], pa.float64()),
        "unit": pa.array(["mg/dL"] * n),
        "measured_at": pa.array([r["us"] for r in rows], pa.int64()).cast(TS),
        "received_at": pa.array([None if r["received_later_us"] is None else r["us"] + r["received_later_us"]
                                 for r in rows], pa.int64()).cast(TS),
        "source": pa.array([r["source"] for r in rows], pa.string()),
        "value_status": pa.array([r["value_status"] for r in rows], pa.string()),
        "sequence": pa.array([r["sequence"] for r in rows], pa.int64()),
        "flags": pa.array([r["flags"] for r in rows], pa.list_(pa.string())),
        "context": pa.array([r["context"] for r in rows], pa.string()),
    }
    assert_converts_like_row_by_row(pa.table(columns))
