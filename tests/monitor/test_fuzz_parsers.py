"""Fuzz: crafted BLE payloads and JSON bytes raise only the declared error types, and never hang.

The default run is modest so CI stays fast; VIGIL_FUZZ_EXAMPLES=100000 runs the full campaign of the issue.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device_gateway.parsing import PARSERS, DecodeError, decode, decode_cgm_feature
from monitor.consent import ConsentState
from monitor.records import (
    Ack,
    Alert,
    DeadLetter,
    NotificationAttempt,
    Reading,
    ReadingKind,
    RecordError,
    Source,
    from_json,
    parse_any,
    reading_id_for,
    to_json,
)

EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "1000"))
# A per-input deadline turns a hang (or a quadratic blow-up) into a failure; generous for a busy 2-core runner.
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=2), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
RECORD_TYPES = (Reading, Alert, Ack, NotificationAttempt, DeadLetter)


def _valid_dicts() -> list[dict[str, object]]:
    reading = Reading(reading_id=reading_id_for("d", "cgm", 1, T0), patient_key="pk_" + "0" * 32, device_id="d",
                      kind=ReadingKind.CGM, value=100.0, unit="mg/dL", measured_at=T0, received_at=T0,
                      source=Source.BLE, sequence=1)
    letter = DeadLetter.of(b"\x00", source="gateway", stage="decode", reason="x", at=T0)
    return [orjson.loads(to_json(reading)), orjson.loads(to_json(letter))]


VALID = _valid_dicts()
FIELDS = sorted({k for d in VALID for k in d} | {"type", "events", "scope", "action", "at", "explanation"})

json_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | \
    st.text(max_size=30) | st.sampled_from(["reading", "alert", "ack", "dead_letter", "consent", "cgm", "mg/dL",
                                             "2026-11-25T08:00:00+00:00", "2026-13-45T99:99", "nan", "inf"])
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5),
                           max_leaves=20)


def json_bytes(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return repr(value).encode()


@st.composite
def mutated_records(draw: st.DrawFn) -> bytes:
    """A valid record with some fields replaced, dropped or added: reaches the deep validation code."""
    record = dict(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(record) + FIELDS))
        if draw(st.booleans()):
            record[name] = draw(json_values)
        else:
            record.pop(name, None)
    encoded = json_bytes(record)
    return encoded if draw(st.booleans()) else encoded[: draw(st.integers(0, 400))]


raw_inputs = st.binary(max_size=256) | json_values.map(json_bytes) | mutated_records() | \
    st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass"))


@st.composite
def ble_payloads(draw: st.DrawFn) -> tuple[int, bytes]:
    """A characteristic and bytes: fully random, or a chosen flags byte with a random tail to pass the header."""
    char = draw(st.sampled_from(sorted(PARSERS)))
    if draw(st.booleans()):
        return char, draw(st.binary(max_size=64))
    return char, bytes([draw(st.integers(0, 255))]) + draw(st.binary(min_size=0, max_size=40))


@FUZZ
@given(ble_payloads())
def test_ble_decoders_raise_only_decode_error(case: tuple[int, bytes]) -> None:
    char, payload = case
    try:
        decode(char, payload)
    except DecodeError as exc:
        assert exc.char_uuid == char


@FUZZ
@given(st.binary(max_size=16))
def test_cgm_feature_decoder_raises_only_decode_error(payload: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_cgm_feature(payload)


@FUZZ
@given(raw_inputs)
def test_parse_any_raises_only_record_error(raw: bytes) -> None:
    try:
        record = parse_any(raw)
    except RecordError as exc:
        assert exc.reason
    else:
        assert parse_any(to_json(record)) == record   # whatever is accepted survives a round trip


@FUZZ
@given(st.sampled_from(RECORD_TYPES), raw_inputs)
def test_from_json_raises_only_record_error(cls: type, raw: bytes) -> None:
    try:
        record = from_json(raw, cls)
    except RecordError:
        return
    assert isinstance(record, cls)


@FUZZ
@given(raw_inputs | json_values.map(lambda v: json_bytes({"type": "consent", "schema_version": 1,
                                                           "patient_key": "pk_x", "events": v})))
def test_consent_states_raise_only_record_error(raw: bytes) -> None:
    with contextlib.suppress(RecordError):
        ConsentState.from_json(raw)


def test_the_strategies_reach_accepting_paths() -> None:
    """Guards the fuzzer itself: valid seeds parse, so mutations start from real records."""
    for d in VALID:
        assert isinstance(parse_any(orjson.dumps(d)), RECORD_TYPES)
    assert decode(0x2A37, b"\x00\x48")
