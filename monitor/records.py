"""Versioned, frozen message contracts for every vigil topic (design section 3)."""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, TypeVar

import orjson

from monitor.frozen import Frozen, quick_init

SCHEMA_VERSION: Final = 1
MGDL_PER_MMOLL: Final = 18.016


class RecordError(ValueError):
    """Raised when bytes or a dict cannot become a record; carries the reason for the dead-letter topic."""

    def __init__(self, reason: str, raw: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class ReadingKind(StrEnum):
    GLUCOSE = "glucose"
    CGM = "cgm"
    HEART_RATE = "heart_rate"
    BLOOD_PRESSURE = "blood_pressure"
    SPO2 = "spo2"
    TEMPERATURE = "temperature"
    WEIGHT = "weight"
    CARBS = "carbs"
    INSULIN = "insulin"


GLUCOSE_KINDS: Final = frozenset({ReadingKind.GLUCOSE, ReadingKind.CGM})

CONTRACT_UNITS: Final[Mapping[ReadingKind, str]] = {
    ReadingKind.GLUCOSE: "mg/dL",
    ReadingKind.CGM: "mg/dL",
    ReadingKind.HEART_RATE: "bpm",
    ReadingKind.BLOOD_PRESSURE: "mmHg",
    ReadingKind.SPO2: "%",
    ReadingKind.TEMPERATURE: "Cel",
    ReadingKind.WEIGHT: "kg",
    ReadingKind.CARBS: "g",
    ReadingKind.INSULIN: "U",
}


# Every alert kind the engine can emit (design section 3); templates and advice must cover each one.
ALERT_KINDS: Final = frozenset({
    "urgent_low", "low", "urgent_low_soon", "predicted_low", "high", "very_high", "rapid_fall", "rapid_rise",
    "no_data", "catch_up", "vitals_heart_rate", "vitals_spo2", "vitals_spo2_urgent", "vitals_blood_pressure",
    "vitals_blood_pressure_low", "vitals_temperature", "vitals_weight",
})


class Source(StrEnum):
    BLE = "ble"
    REPLAY = "replay"
    IMPORT = "import"
    API = "api"
    SIMULATOR = "simulator"


class AlertState(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"


class AckAction(StrEnum):
    ACK = "ack"
    SNOOZE = "snooze"


def utc(ts: datetime) -> datetime:
    """Refuses naive datetimes so that every instant inside vigil is UTC and comparable."""
    if ts.tzinfo is UTC:  # nearly always (fromisoformat gives the UTC singleton for +00:00): no method calls
        return ts
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise RecordError(f"naive datetime {ts.isoformat()} (time zone required)")
    return ts.astimezone(UTC)


def _ts(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected an ISO-8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise RecordError(f"{name}: not an ISO-8601 time: {value!r}") from exc
    return utc(parsed)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def _str(d: Mapping[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = d.get(name)
    if not isinstance(value, str) or not (value or allow_empty):
        raise RecordError(f"{name}: expected a non-empty string")
    return value


def _opt_str(d: Mapping[str, Any], name: str) -> str | None:
    value = d.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected a string or null")
    return value


def _num(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{name}: expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise RecordError(f"{name}: not a finite number")
    return number


def _opt_num(d: Mapping[str, Any], name: str) -> float | None:
    value = d.get(name)
    return None if value is None else _num(value, name)


def _opt_int(d: Mapping[str, Any], name: str) -> int | None:
    value = d.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name}: expected an integer or null")
    return value


def _int(d: Mapping[str, Any], name: str) -> int:
    value = _opt_int(d, name)
    if value is None:
        raise RecordError(f"{name}: expected an integer")
    return value


_E = TypeVar("_E", bound=StrEnum)


_MEMBERS: dict[type, Mapping[str, Any]] = {}  # each StrEnum's members by value: a dict lookup, not EnumType.__call__


def _members(cls: type[_E]) -> Mapping[str, _E]:
    members = _MEMBERS.get(cls)
    if members is None:
        members = _MEMBERS[cls] = {m.value: m for m in cls}
    return members


def _enum(cls: type[_E], d: Mapping[str, Any], name: str) -> _E:
    value = d.get(name)
    member = _members(cls).get(value) if type(value) is str else None
    if member is not None:
        return member
    try:
        return cls(str(value)) if isinstance(value, str) else cls(value)  # type: ignore[arg-type]
    except ValueError as exc:
        allowed = ", ".join(m.value for m in cls)
        raise RecordError(f"{name}: {value!r} is not one of {allowed}") from exc


def _str_tuple(d: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = d.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{name}: expected a list of strings")
    return tuple(value)


def _num_map(d: Mapping[str, Any], name: str) -> Mapping[str, float]:
    value = d.get(name, {})
    if not isinstance(value, dict):
        raise RecordError(f"{name}: expected an object of numbers")
    return {str(k): _num(v, f"{name}.{k}") for k, v in value.items()}


def _check_header(d: Mapping[str, Any], record_type: str) -> None:
    found = d.get("type")
    if found != record_type:
        raise RecordError(f"expected a {record_type} record, got type {found!r}")
    version = d.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(
            f"unsupported schema_version {version!r} for {record_type} (this build reads {SCHEMA_VERSION})"
        )


@quick_init
@dataclass(frozen=True, slots=True)
class Reading(Frozen):
    """One measurement or context event from one device, in contract units, on event time."""

    reading_id: str
    patient_key: str
    device_id: str
    kind: ReadingKind
    value: float | None
    unit: str
    measured_at: datetime
    received_at: datetime
    source: Source
    # Extra named values of the same measurement (systolic, diastolic, mean arterial, pulse, bmi...).
    components: Mapping[str, float] = field(default_factory=dict)
    # Why value is None (an IEEE 11073 special value such as "nan" or "nres").
    value_status: str | None = None
    original_value: float | None = None
    original_unit: str | None = None
    sequence: int | None = None
    flags: tuple[str, ...] = ()
    # Context detail: insulin type (rapid, long, mixed), meal, test specimen...
    context: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        utc(self.measured_at)
        utc(self.received_at)
        if self.value is None and not self.value_status:
            raise RecordError("a reading without a value must say why (value_status)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "reading",
            "schema_version": self.schema_version,
            "reading_id": self.reading_id,
            "patient_key": self.patient_key,
            "device_id": self.device_id,
            "kind": self.kind.value,
            "value": self.value,
            "unit": self.unit,
            "measured_at": _iso(self.measured_at),
            "received_at": _iso(self.received_at),
            "source": self.source.value,
            "components": dict(self.components),
            "value_status": self.value_status,
            "original_value": self.original_value,
            "original_unit": self.original_unit,
            "sequence": self.sequence,
            "flags": list(self.flags),
            "context": self.context,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reading:
        _check_header(d, "reading")
        return cls(  # by position, in field order (the worker parses every reading: keywords cost ~0.2 us)
            _str(d, "reading_id"),
            _str(d, "patient_key"),
            _str(d, "device_id"),
            _enum(ReadingKind, d, "kind"),
            _opt_num(d, "value"),
            _str(d, "unit"),
            _ts(d.get("measured_at"), "measured_at"),
            _ts(d.get("received_at"), "received_at"),
            _enum(Source, d, "source"),
            _num_map(d, "components"),
            _opt_str(d, "value_status"),
            _opt_num(d, "original_value"),
            _opt_str(d, "original_unit"),
            _opt_int(d, "sequence"),
            _str_tuple(d, "flags"),
            _opt_str(d, "context"),
        )


@quick_init
@dataclass(frozen=True, slots=True)
class Explanation(Frozen):
    """Why an alert fired: the rule, its thresholds, the values and the model that took part."""

    rule: str
    reason: str
    thresholds: Mapping[str, float] = field(default_factory=dict)
    values: Mapping[str, float] = field(default_factory=dict)
    trend_mgdl_per_min: float | None = None
    forecast_mgdl: float | None = None
    model_name: str = "rules"
    model_version: str = "rules-1"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "reason": self.reason,
            "thresholds": dict(self.thresholds),
            "values": dict(self.values),
            "trend_mgdl_per_min": self.trend_mgdl_per_min,
            "forecast_mgdl": self.forecast_mgdl,
            "model_name": self.model_name,
            "model_version": self.model_version,
        }

    @classmethod
    def from_dict(cls, d: Any) -> Explanation:
        if not isinstance(d, dict):
            raise RecordError("explanation: expected an object")
        return cls(
            rule=_str(d, "rule"),
            reason=_str(d, "reason"),
            thresholds=_num_map(d, "thresholds"),
            values=_num_map(d, "values"),
            trend_mgdl_per_min=_opt_num(d, "trend_mgdl_per_min"),
            forecast_mgdl=_opt_num(d, "forecast_mgdl"),
            model_name=_str(d, "model_name"),
            model_version=_str(d, "model_version"),
        )


@dataclass(frozen=True, slots=True)
class Advice:
    """A guideline-based diet recommendation: an id for audit and the text; never a medicine."""

    advice_id: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"advice_id": self.advice_id, "text": self.text}

    @classmethod
    def from_dict(cls, d: Any) -> Advice | None:
        if d is None:
            return None
        if not isinstance(d, dict):
            raise RecordError("advice: expected an object or null")
        return cls(advice_id=_str(d, "advice_id"), text=_str(d, "text"))


@quick_init
@dataclass(frozen=True, slots=True)
class Alert(Frozen):
    """One state change of one alert episode; (alert_id, state) identifies the record."""

    alert_id: str
    patient_key: str
    episode_id: str
    kind: str
    severity: Severity
    state: AlertState
    triggered_at: datetime
    reading_ids: tuple[str, ...]
    explanation: Explanation
    advice: Advice | None = None
    value_mgdl: float | None = None
    recovering: bool = False
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        utc(self.triggered_at)

    @property
    def record_key(self) -> str:
        return f"{self.alert_id}:{self.state.value}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "alert",
            "schema_version": self.schema_version,
            "alert_id": self.alert_id,
            "patient_key": self.patient_key,
            "episode_id": self.episode_id,
            "kind": self.kind,
            "severity": self.severity.value,
            "state": self.state.value,
            "triggered_at": _iso(self.triggered_at),
            "reading_ids": list(self.reading_ids),
            "explanation": self.explanation.to_dict(),
            "advice": None if self.advice is None else self.advice.to_dict(),
            "value_mgdl": self.value_mgdl,
            "recovering": self.recovering,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        _check_header(d, "alert")
        recovering = d.get("recovering", False)
        if not isinstance(recovering, bool):
            raise RecordError("recovering: expected a boolean")
        return cls(
            alert_id=_str(d, "alert_id"),
            patient_key=_str(d, "patient_key"),
            episode_id=_str(d, "episode_id"),
            kind=_str(d, "kind"),
            severity=_enum(Severity, d, "severity"),
            state=_enum(AlertState, d, "state"),
            triggered_at=_ts(d.get("triggered_at"), "triggered_at"),
            reading_ids=_str_tuple(d, "reading_ids"),
            explanation=Explanation.from_dict(d.get("explanation")),
            advice=Advice.from_dict(d.get("advice")),
            value_mgdl=_opt_num(d, "value_mgdl"),
            recovering=recovering,
        )


@dataclass(frozen=True, slots=True)
class Ack:
    """A care-team member's acknowledgement or snooze of one alert."""

    ack_id: str
    alert_id: str
    patient_key: str
    action: AckAction
    responder_ref: str
    at: datetime
    channel: str
    snooze_minutes: int | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        utc(self.at)
        if self.action is AckAction.SNOOZE and (self.snooze_minutes is None or self.snooze_minutes <= 0):
            raise RecordError("a snooze needs a positive snooze_minutes")

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "ack",
            "schema_version": self.schema_version,
            "ack_id": self.ack_id,
            "alert_id": self.alert_id,
            "patient_key": self.patient_key,
            "action": self.action.value,
            "responder_ref": self.responder_ref,
            "at": _iso(self.at),
            "channel": self.channel,
            "snooze_minutes": self.snooze_minutes,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Ack:
        _check_header(d, "ack")
        return cls(
            ack_id=_str(d, "ack_id"),
            alert_id=_str(d, "alert_id"),
            patient_key=_str(d, "patient_key"),
            action=_enum(AckAction, d, "action"),
            responder_ref=_str(d, "responder_ref"),
            at=_ts(d.get("at"), "at"),
            channel=_str(d, "channel"),
            snooze_minutes=_opt_int(d, "snooze_minutes"),
        )


@dataclass(frozen=True, slots=True)
class NotificationAttempt:
    """One send, retry or delivery-status change of one alert to one recipient: the audit trail."""

    attempt_id: str
    alert_id: str
    patient_key: str
    recipient_ref: str
    attempt: int
    status: str
    at: datetime
    channel: str = "sms"
    provider_id: str | None = None
    error_code: str | None = None
    detail: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        utc(self.at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "notification_attempt",
            "schema_version": self.schema_version,
            "attempt_id": self.attempt_id,
            "alert_id": self.alert_id,
            "patient_key": self.patient_key,
            "recipient_ref": self.recipient_ref,
            "attempt": self.attempt,
            "status": self.status,
            "at": _iso(self.at),
            "channel": self.channel,
            "provider_id": self.provider_id,
            "error_code": self.error_code,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NotificationAttempt:
        _check_header(d, "notification_attempt")
        return cls(
            attempt_id=_str(d, "attempt_id"),
            alert_id=_str(d, "alert_id"),
            patient_key=_str(d, "patient_key"),
            recipient_ref=_str(d, "recipient_ref"),
            attempt=_int(d, "attempt"),
            status=_str(d, "status"),
            at=_ts(d.get("at"), "at"),
            channel=_str(d, "channel"),
            provider_id=_opt_str(d, "provider_id"),
            error_code=_opt_str(d, "error_code"),
            detail=_opt_str(d, "detail"),
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input vigil could not use, kept whole with the stage and reason instead of being dropped."""

    source: str
    stage: str
    reason: str
    raw_b64: str
    at: datetime
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        utc(self.at)

    @classmethod
    def of(
        cls,
        raw: bytes,
        *,
        source: str,
        stage: str,
        reason: str,
        at: datetime,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> DeadLetter:
        return cls(
            source=source,
            stage=stage,
            reason=reason,
            raw_b64=base64.b64encode(raw).decode("ascii"),
            at=at,
            topic=topic,
            partition=partition,
            offset=offset,
        )

    @property
    def raw(self) -> bytes:
        return base64.b64decode(self.raw_b64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "dead_letter",
            "schema_version": self.schema_version,
            "source": self.source,
            "stage": self.stage,
            "reason": self.reason,
            "raw_b64": self.raw_b64,
            "at": _iso(self.at),
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeadLetter:
        _check_header(d, "dead_letter")
        return cls(
            source=_str(d, "source"),
            stage=_str(d, "stage"),
            reason=_str(d, "reason"),
            raw_b64=_str(d, "raw_b64", allow_empty=True),
            at=_ts(d.get("at"), "at"),
            topic=_opt_str(d, "topic"),
            partition=_opt_int(d, "partition"),
            offset=_opt_int(d, "offset"),
        )


Record = Reading | Alert | Ack | NotificationAttempt | DeadLetter

_BY_TYPE: Final[Mapping[str, Any]] = {
    "reading": Reading,
    "alert": Alert,
    "ack": Ack,
    "notification_attempt": NotificationAttempt,
    "dead_letter": DeadLetter,
}

_R = TypeVar("_R", Reading, Alert, Ack, NotificationAttempt, DeadLetter)


def to_json(record: Record) -> bytes:
    """Serializes a record to compact UTF-8 JSON bytes (the wire format of every topic)."""
    return orjson.dumps(record.to_dict())


def _load(raw: bytes | str) -> dict[str, Any]:
    raw_bytes = raw.encode("utf-8") if isinstance(raw, str) else raw
    try:
        data = orjson.loads(raw_bytes)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}", raw_bytes) from exc
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}", raw_bytes)
    return data


def from_json(raw: bytes | str, cls: type[_R]) -> _R:
    """Parses bytes into a record of the given class, or raises RecordError with the reason."""
    data = _load(raw)
    try:
        record: _R = cls.from_dict(data)
    except RecordError as exc:
        raise RecordError(exc.reason, raw.encode() if isinstance(raw, str) else raw) from exc
    except (TypeError, ValueError) as exc:
        raise RecordError(f"invalid {cls.__name__}: {exc}", raw.encode() if isinstance(raw, str) else raw) from exc
    return record


def parse_any(raw: bytes | str) -> Record:
    """Parses bytes of any record type, dispatching on the "type" field."""
    data = _load(raw)
    cls = _BY_TYPE.get(str(data.get("type")))
    if cls is None:
        raise RecordError(f"unknown record type {data.get('type')!r}")
    record: Record = from_json(raw, cls)
    return record


def stable_id(*parts: str, length: int = 24) -> str:
    """Derives a deterministic id from its parts, so that a replay or a resend yields the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def reading_id_for(device_id: str, kind: str, sequence: int | None, measured_at: datetime) -> str:
    """A reading's id: from the device and its sequence number when it has one, else its timestamp."""
    marker = f"seq:{sequence}" if sequence is not None else f"ts:{_iso(utc(measured_at))}"
    return "r_" + stable_id(device_id, kind, marker)


def mgdl_from_mmoll(mmol_per_l: float) -> float:
    return mmol_per_l * MGDL_PER_MMOLL


def mmoll_from_mgdl(mg_per_dl: float) -> float:
    return mg_per_dl / MGDL_PER_MMOLL
