"""State codec: exact bytes, round trips of real engine states, and typed refusals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import pytest

from monitor import engine, state_codec
from monitor.records import Reading, ReadingKind, Severity, Source, reading_id_for
from monitor.state_codec import StateCodecError

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Inner:
    at: datetime
    level: Severity
    value: float = 0.0


@dataclass(frozen=True, slots=True)
class Outer:
    name: str
    inner: Inner | None = None
    items: tuple[Inner, ...] = ()
    pair: tuple[str, int] = ("a", 1)
    mode: Literal["x", "y"] = "x"
    extra: Mapping[str, float] = field(default_factory=dict)
    count: int = 0
    flag: bool = False


def test_bytes_are_plain_json_with_iso_datetimes_and_enum_values():
    obj = Outer("p", Inner(T0, Severity.WARNING, 2.5), pair=("b", 2), extra={"k": 1.5})
    assert state_codec.dumps(obj) == (
        b'{"name":"p","inner":{"at":"2026-11-25T08:00:00+00:00","level":"warning","value":2.5},"items":[],'
        b'"pair":["b",2],"mode":"x","extra":{"k":1.5},"count":0,"flag":false}')


@pytest.mark.parametrize("obj", [
    Outer("p"),
    Outer("p", Inner(T0, Severity.URGENT), (Inner(T0, Severity.INFO, 1.0),) * 3, ("z", 9), "y", {"a": 2.0}, 3, True),
])
def test_round_trip(obj):
    assert state_codec.loads(state_codec.dumps(obj), Outer) == obj


def test_an_integer_where_a_float_is_expected_is_accepted_as_float():
    loaded = state_codec.loads(b'{"name":"p","inner":{"at":"2026-11-25T08:00:00+00:00","level":"info","value":3}}',
                               Outer)
    assert loaded.inner is not None and loaded.inner.value == 3.0 and isinstance(loaded.inner.value, float)


@pytest.mark.parametrize("raw", [
    b'{"name": 5}',  # wrong scalar type
    b'{"name":"p","count":true}',  # bool is not an int
    b'{"name":"p","flag":1}',  # int is not a bool
    b'{"name":"p","mode":"z"}',  # outside the Literal
    b'{"name":"p","pair":["a"]}',  # fixed tuple of the wrong length
    b'{"name":"p","inner":{"at":1,"level":"info"}}',  # datetime must be a string
    b'{"name":"p","inner":{"at":"2026-11-25T08:00:00+00:00","level":"nope"}}',  # unknown enum value
    b'{"name":"p","inner":"x"}',  # a dataclass must be an object
    b'{"inner":null}',  # a required field is missing
    b"not json",
])
def test_bad_bytes_raise_state_codec_error(raw):
    with pytest.raises(StateCodecError):
        state_codec.loads(raw, Outer)


def test_real_engine_states_round_trip_exactly():
    state = None
    for minute, value in enumerate([150, 120, 90, 70, 60, 52, 50, 58, 75, 90, 100, 110, 120, 130]):
        at = T0 + timedelta(minutes=5 * minute)
        reading = Reading(reading_id=reading_id_for("cgm", "cgm", minute, at), patient_key="pk_x", device_id="cgm",
                          kind=ReadingKind.CGM, value=float(value), unit="mg/dL", measured_at=at, received_at=at,
                          source=Source.BLE, sequence=minute)
        state = engine.process(state, reading, at, forecaster=engine.default_forecaster()).state
        raw = state_codec.dumps(state)
        assert state_codec.loads(raw, engine.MonitorState) == state
        assert state_codec.dumps(state_codec.loads(raw, engine.MonitorState)) == raw


@dataclass(frozen=True, slots=True)
class WithCache:
    name: str
    count: int = 0
    cache: tuple[int, ...] = field(default=(), compare=False, metadata={"transient": True})
    at: datetime | None = None


def test_compact_layout_is_positional_drops_trailing_defaults_and_transient_fields():
    obj = Outer("p", Inner(T0, Severity.WARNING, 2.5), pair=("b", 2), extra={"k": 1.5})
    assert state_codec.dumps_compact(obj) == b'["p",[1795593600,"warning",2.5],[],["b",2],"x",{"k":1.5}]'
    assert state_codec.dumps_compact(WithCache("n", 0, (1, 2))) == b'["n"]'
    micro = T0.replace(microsecond=7)
    assert state_codec.dumps_compact(WithCache("n", 1, (), micro)) == b'["n",1,' + f'"{micro.isoformat()}"]'.encode()


@pytest.mark.parametrize("obj", [
    Outer("p"),
    Outer("p", Inner(T0, Severity.URGENT), (Inner(T0, Severity.INFO, 1.0),) * 3, ("z", 9), "y", {"a": 2.0}, 3, True),
    Outer("p", Inner(T0.replace(microsecond=5), Severity.INFO)),
    Outer("p", Inner(T0.astimezone(timezone(timedelta(hours=2))), Severity.INFO)),
])
def test_compact_round_trip(obj):
    raw = state_codec.dumps_compact(obj)
    loaded = state_codec.loads_compact(raw, Outer)
    assert loaded == obj and loaded.inner == obj.inner
    assert loaded.inner is None or loaded.inner.at.utcoffset() == obj.inner.at.utcoffset()
    assert state_codec.dumps_compact(loaded) == raw


@pytest.mark.parametrize("raw", [
    b'{"name":"p"}',  # the named layout is not the compact one
    b'["p",[true,"info"]]',  # a bool is no epoch
    b'["p",null,[],["a",1],"x",{},0,false,"extra"]',  # more values than fields
    b'[]',  # a required field is missing
])
def test_bad_compact_bytes_raise_state_codec_error(raw):
    with pytest.raises(StateCodecError):
        state_codec.loads_compact(raw, Outer)
