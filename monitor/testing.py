"""Test doubles: feed readings through the real scoring and episode code without a broker, on a fake clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from models.api import Forecaster
from monitor import engine
from monitor.records import Ack, AckAction, Alert, Reading, ReadingKind, Source, reading_id_for, stable_id
from monitor.summary import Summary
from monitor.targets import DEFAULT_TARGETS, Targets

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
UNITS = {ReadingKind.CGM: "mg/dL", ReadingKind.GLUCOSE: "mg/dL", ReadingKind.HEART_RATE: "bpm",
         ReadingKind.SPO2: "%", ReadingKind.BLOOD_PRESSURE: "mmHg", ReadingKind.TEMPERATURE: "Cel",
         ReadingKind.WEIGHT: "kg"}


class FakeClock:
    """A wall clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float = 0.0, seconds: float = 0.0) -> datetime:
        self.now += timedelta(minutes=minutes, seconds=seconds)
        return self.now


_seq = itertools.count()


def reading(value: float | None, minute: float = 0.0, *, patient: str = "p1", kind: ReadingKind = ReadingKind.CGM,
            device: str = "cgm-1", start: datetime = T0, received_late_min: float = 0.0,
            components: dict[str, float] | None = None) -> Reading:
    """A reading `minute` minutes after `start` (event time); received_late_min makes it a backfill."""
    at = start + timedelta(minutes=minute)
    return Reading(
        reading_id=reading_id_for(device, kind.value, None, at) + (f"-{next(_seq)}" if value is None else ""),
        patient_key=patient, device_id=device, kind=kind, value=value, unit=UNITS.get(kind, "mg/dL"),
        measured_at=at, received_at=at + timedelta(minutes=received_late_min), source=Source.SIMULATOR,
        components=components or {}, value_status=None if value is not None else "nan",
    )


def cgm_series(values: Iterable[float], *, every_min: float = 5.0, start_min: float = 0.0, **kw: object
               ) -> list[Reading]:
    """Consecutive CGM readings, one every `every_min` minutes."""
    return [reading(v, start_min + i * every_min, **kw) for i, v in enumerate(values)]  # type: ignore[arg-type]


def ack(alert: Alert, at: datetime, *, snooze_minutes: int | None = None, responder: str = "nurse-1") -> Ack:
    action = AckAction.SNOOZE if snooze_minutes else AckAction.ACK
    return Ack(ack_id="k_" + stable_id(alert.alert_id, at.isoformat()), alert_id=alert.alert_id,
               patient_key=alert.patient_key, action=action, responder_ref=responder, at=at, channel="test",
               snooze_minutes=snooze_minutes)


@dataclass
class MonitorHarness:
    """The worker's pure pipeline for any number of patients, with a clock you control."""

    clock: FakeClock = field(default_factory=FakeClock)
    targets: dict[str, Targets] = field(default_factory=dict)
    forecaster: Forecaster | None = field(default_factory=engine.default_forecaster)
    states: dict[str, engine.MonitorState] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)

    def _keep(self, key: str, step: engine.Step) -> list[Alert]:
        self.states[key] = step.state
        self.alerts.extend(step.alerts)
        self.summaries.extend(step.summaries)
        return list(step.alerts)

    def feed(self, *readings: Reading) -> list[Alert]:
        """Scores readings in the given (arrival) order; returns the alert records they produced."""
        out: list[Alert] = []
        for r in readings:
            step = engine.process(self.states.get(r.patient_key), r, self.clock(),
                                  targets=self.targets.get(r.patient_key, DEFAULT_TARGETS), forecaster=self.forecaster)
            out += self._keep(r.patient_key, step)
        return out

    def acknowledge(self, a: Ack) -> list[Alert]:
        return self._keep(a.patient_key, engine.process_ack(self.states.get(a.patient_key), a))

    def tick(self) -> list[Alert]:
        """What the worker's wall-clock timer does, for every patient."""
        out: list[Alert] = []
        for key, state in list(self.states.items()):
            out += self._keep(key, engine.tick(state, self.clock(), self.targets.get(key, DEFAULT_TARGETS)))
        return out

    def open_episodes(self, patient: str = "p1") -> dict[str, str]:
        """{family: level} of the patient's open episodes, including no_data."""
        state = self.states.get(patient)
        if state is None:
            return {}
        out = {e.family: e.level for e in state.live.open}
        if state.no_data is not None:
            out["no_data"] = "no_data"
        return out
