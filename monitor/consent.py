"""Pure consent model: who agreed to what, when, under which text, so the worker and replay can ask at event time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar

import orjson

from monitor.records import RecordError, utc

CONSENT_SCHEMA_VERSION: Final = 1
NO_CONSENT: Final = "no_consent"


class Scope(StrEnum):
    """What a patient can consent to, separately."""

    MONITORING = "monitoring"
    SMS_CARE_TEAM = "sms_care_team"
    RESEARCH = "research"


class Action(StrEnum):
    GRANT = "grant"
    REVOKE = "revoke"


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One grant or revocation of one scope, with the consent text version and who recorded it."""

    patient_key: str
    scope: Scope
    action: Action
    text_version: str
    at: datetime
    recorded_by: str

    def __post_init__(self) -> None:
        utc(self.at)
        if not self.recorded_by.strip():
            raise ValueError("a consent change must say who recorded it")
        if not self.text_version.strip():
            raise ValueError("a consent change must name the version of the consent text")

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope.value,
            "action": self.action.value,
            "text_version": self.text_version,
            "at": utc(self.at).isoformat(),
            "recorded_by": self.recorded_by,
        }

    @classmethod
    def from_dict(cls, patient_key: str, d: Mapping[str, Any]) -> ConsentEvent:
        try:
            return cls(
                patient_key=patient_key,
                scope=Scope(d["scope"]),
                action=Action(d["action"]),
                text_version=str(d["text_version"]),
                at=datetime.fromisoformat(str(d["at"])),
                recorded_by=str(d["recorded_by"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise RecordError(f"invalid consent event: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ConsentState:
    """A patient's whole consent history (oldest first); the value of the compacted consent topic."""

    patient_key: str
    events: tuple[ConsentEvent, ...] = ()

    def with_event(self, event: ConsentEvent) -> ConsentState:
        if event.patient_key != self.patient_key:
            raise ValueError("consent event for another patient")
        ordered = sorted((*self.events, event), key=lambda e: utc(e.at))
        return ConsentState(self.patient_key, tuple(ordered))

    def latest(self, scope: Scope, at: datetime) -> ConsentEvent | None:
        """The last change of this scope at or before `at` (a later change never rewrites the past)."""
        moment = utc(at)
        found: ConsentEvent | None = None
        for event in self.events:
            if event.scope is scope and utc(event.at) <= moment:
                found = event
        return found

    def active(self, scope: Scope, at: datetime) -> bool:
        event = self.latest(scope, at)
        return event is not None and event.action is Action.GRANT

    def to_json(self) -> bytes:
        return orjson.dumps({
            "type": "consent",
            "schema_version": CONSENT_SCHEMA_VERSION,
            "patient_key": self.patient_key,
            "events": [e.to_dict() for e in self.events],
        })

    @classmethod
    def from_json(cls, raw: bytes) -> ConsentState:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"consent state is not JSON: {exc}", raw) from exc
        if not isinstance(data, dict) or data.get("type") != "consent":
            raise RecordError("not a consent state", raw)
        if data.get("schema_version") != CONSENT_SCHEMA_VERSION:
            raise RecordError(f"unsupported consent schema_version {data.get('schema_version')!r}", raw)
        key = data.get("patient_key")
        events = data.get("events")
        if not isinstance(key, str) or not isinstance(events, list):
            raise RecordError("consent state needs patient_key and events", raw)
        state = cls(key)
        for item in events:
            if not isinstance(item, dict):
                raise RecordError("consent event must be an object", raw)
            state = state.with_event(ConsentEvent.from_dict(key, item))
        return state


def monitoring_refusal(state: ConsentState | None, measured_at: datetime, now: datetime) -> str | None:
    """Why a reading may not be scored, or None: monitoring consent must hold when measured AND now.

    Active at measurement time, so readings from a gap between a revocation and a new grant stay out; active now,
    so a revocation stops the processing of readings that arrive late (a gateway backfill) at once.
    """
    if state is None:
        return NO_CONSENT
    if not (state.active(Scope.MONITORING, measured_at) and state.active(Scope.MONITORING, now)):
        return NO_CONSENT
    return None


class HasPatient(Protocol):
    @property
    def patient_key(self) -> str: ...


_P = TypeVar("_P", bound=HasPatient)


def research_cohort(states: Iterable[ConsentState], now: datetime) -> frozenset[str]:
    """Patient keys whose research consent is active now (replay into a research namespace uses this)."""
    return frozenset(s.patient_key for s in states if s.active(Scope.RESEARCH, now))


def for_research(records: Iterable[_P], states: Mapping[str, ConsentState], now: datetime) -> Iterator[_P]:
    """Keeps only the records of patients with research consent active now; everything else is dropped."""
    cohort = research_cohort(states.values(), now)
    return (r for r in records if r.patient_key in cohort)
