"""Contracts: every record round-trips through JSON, and bad bytes or versions raise RecordError only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.records import (
    Ack,
    AckAction,
    Advice,
    Alert,
    AlertState,
    DeadLetter,
    Explanation,
    NotificationAttempt,
    Reading,
    ReadingKind,
    RecordError,
    Severity,
    Source,
    from_json,
    parse_any,
    reading_id_for,
    to_json,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]))


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    value = draw(st.one_of(st.none(), finite))
    return Reading(
        reading_id=draw(names), patient_key=draw(names), device_id=draw(names),
        kind=draw(st.sampled_from(ReadingKind)), value=value, unit=draw(names),
        measured_at=draw(times).astimezone(UTC), received_at=draw(times).astimezone(UTC),
        source=draw(st.sampled_from(Source)),
        components=draw(st.dictionaries(names, finite, max_size=3)),
        value_status=draw(names) if value is None else draw(st.one_of(st.none(), names)),
        original_value=draw(st.one_of(st.none(), finite)), original_unit=draw(st.one_of(st.none(), names)),
        sequence=draw(st.one_of(st.none(), st.integers(0, 2**31))), flags=tuple(draw(st.lists(names, max_size=3))),
        context=draw(st.one_of(st.none(), names)),
    )


@st.composite
def alerts(draw: st.DrawFn) -> Alert:
    return Alert(
        alert_id=draw(names), patient_key=draw(names), episode_id=draw(names), kind=draw(names),
        severity=draw(st.sampled_from(Severity)), state=draw(st.sampled_from(AlertState)),
        triggered_at=draw(times).astimezone(UTC), reading_ids=tuple(draw(st.lists(names, max_size=4))),
        explanation=Explanation(rule=draw(names), reason=draw(st.text(min_size=1, max_size=80)),
                                thresholds=draw(st.dictionaries(names, finite, max_size=3)),
                                values=draw(st.dictionaries(names, finite, max_size=3)),
                                trend_mgdl_per_min=draw(st.one_of(st.none(), finite)),
                                forecast_mgdl=draw(st.one_of(st.none(), finite)),
                                model_name=draw(names), model_version=draw(names)),
        advice=draw(st.one_of(st.none(), st.builds(Advice, names, st.text(min_size=1, max_size=80)))),
        value_mgdl=draw(st.one_of(st.none(), finite)), recovering=draw(st.booleans()),
    )


@st.composite
def acks(draw: st.DrawFn) -> Ack:
    action = draw(st.sampled_from(AckAction))
    return Ack(ack_id=draw(names), alert_id=draw(names), patient_key=draw(names), action=action,
               responder_ref=draw(names), at=draw(times).astimezone(UTC), channel=draw(names),
               snooze_minutes=draw(st.integers(1, 600)) if action is AckAction.SNOOZE else None)


@st.composite
def attempts(draw: st.DrawFn) -> NotificationAttempt:
    return NotificationAttempt(attempt_id=draw(names), alert_id=draw(names), patient_key=draw(names),
                               recipient_ref=draw(names), attempt=draw(st.integers(0, 50)), status=draw(names),
                               at=draw(times).astimezone(UTC), channel=draw(names),
                               provider_id=draw(st.one_of(st.none(), names)),
                               error_code=draw(st.one_of(st.none(), names)), detail=draw(st.one_of(st.none(), names)))


@st.composite
def letters(draw: st.DrawFn) -> DeadLetter:
    return DeadLetter.of(draw(st.binary(max_size=64)), source=draw(names), stage=draw(names), reason=draw(names),
                         at=draw(times).astimezone(UTC), topic=draw(st.one_of(st.none(), names)),
                         partition=draw(st.one_of(st.none(), st.integers(0, 100))),
                         offset=draw(st.one_of(st.none(), st.integers(0, 2**40))))


@settings(max_examples=150)
@given(st.one_of(readings(), alerts(), acks(), attempts(), letters()))
def test_every_record_round_trips_through_json(record):
    raw = to_json(record)
    assert from_json(raw, type(record)) == record
    assert parse_any(raw) == record


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_record_error(raw):
    for cls in (Reading, Alert, Ack, NotificationAttempt, DeadLetter):
        try:
            from_json(raw, cls)
        except RecordError as exc:
            assert exc.reason


def reading_dict(**changes: object) -> dict:
    base = Reading(reading_id="r1", patient_key="pk", device_id="d", kind=ReadingKind.CGM, value=65.0,
                   unit="mg/dL", measured_at=T0, received_at=T0, source=Source.BLE).to_dict()
    base.update(changes)
    return base


@pytest.mark.parametrize(("changes", "reason"), [
    ({"schema_version": 2}, "unsupported schema_version 2"),
    ({"schema_version": None}, "unsupported schema_version None"),
    ({"type": "alert"}, "expected a reading record"),
    ({"kind": "blood_sugar"}, "kind: 'blood_sugar' is not one of"),
    ({"kind": None}, "kind: None is not one of"),
    ({"kind": 3}, "kind: 3 is not one of"),
    ({"kind": "CGM"}, "kind: 'CGM' is not one of"),
    ({"source": "bluetooth"}, "source: 'bluetooth' is not one of"),
    ({"value": "65"}, "value: expected a number"),
    ({"value": True}, "value: expected a number"),
    ({"value": None, "value_status": None}, "must say why"),
    ({"measured_at": "2026-11-25T08:00:00"}, "naive datetime"),
    ({"measured_at": "yesterday"}, "not an ISO-8601 time"),
    ({"patient_key": ""}, "patient_key: expected a non-empty string"),
    ({"flags": "low_battery"}, "flags: expected a list of strings"),
    ({"components": {"systolic": "high"}}, "components.systolic: expected a number"),
])
def test_bad_readings_say_why(changes, reason):
    with pytest.raises(RecordError, match=reason):
        from_json(orjson.dumps(reading_dict(**changes)), Reading)


@pytest.mark.parametrize("raw", [b"", b"[]", b"null", b"\xff\xfe", b'{"type": "reading"', b"42"])
def test_non_objects_are_record_errors(raw):
    with pytest.raises(RecordError):
        from_json(raw, Reading)


def test_unknown_type_is_refused():
    with pytest.raises(RecordError, match="unknown record type 'telemetry'"):
        parse_any(b'{"type": "telemetry", "schema_version": 1}')


def test_times_are_normalised_to_utc():
    beijing = datetime(2026, 11, 25, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    raw = orjson.dumps(reading_dict(measured_at=beijing.isoformat()))
    assert from_json(raw, Reading).measured_at == T0
    assert from_json(raw, Reading).measured_at.tzinfo is UTC


@pytest.mark.parametrize("kind", list(ReadingKind))
def test_kinds_parse_to_their_members(kind):
    reading = from_json(orjson.dumps(reading_dict(kind=kind.value, source="replay")), Reading)
    assert reading.kind is kind and reading.source is Source.REPLAY


def test_utc_times_are_kept_as_they_are():
    raw = orjson.dumps(reading_dict(measured_at="2026-11-25T08:00:00+00:00"))
    assert from_json(raw, Reading).measured_at == T0
    assert from_json(raw, Reading).measured_at.tzinfo is UTC


def test_reading_ids_are_deterministic_and_prefer_sequence_numbers():
    assert reading_id_for("dev", "cgm", 7, T0) == reading_id_for("dev", "cgm", 7, T0 + timedelta(hours=1))
    assert reading_id_for("dev", "cgm", None, T0) != reading_id_for("dev", "cgm", None, T0 + timedelta(minutes=5))
    assert reading_id_for("dev", "cgm", 7, T0) != reading_id_for("dev2", "cgm", 7, T0)


def test_snooze_needs_minutes():
    with pytest.raises(RecordError, match="snooze_minutes"):
        Ack(ack_id="a", alert_id="b", patient_key="c", action=AckAction.SNOOZE, responder_ref="n", at=T0,
            channel="sms")


def test_dead_letter_keeps_the_raw_bytes():
    letter = DeadLetter.of(b"\x00garbage", source="monitor", stage="parse", reason="not JSON", at=T0)
    assert from_json(to_json(letter), DeadLetter).raw == b"\x00garbage"
