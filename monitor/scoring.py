"""Pure scoring: (patient state, reading, event time) -> (new state, findings); no faust, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from models.api import Forecaster
from monitor.findings import Finding
from monitor.frozen import Frozen, quick_init
from monitor.records import GLUCOSE_KINDS, Reading, ReadingKind
from monitor.rules_glucose import GlucoseState, glucose_findings
from monitor.rules_vitals import VitalsState, is_normal_value, vitals_findings_of
from monitor.targets import DEFAULT_TARGETS, Targets

PLAUSIBLE_MGDL: Final = (10.0, 1000.0)  # outside this a value is a device error, never a clinical finding
RECOVERING_MGDL_PER_MIN: Final = 1.0
VITAL_FAMILIES: Final = {
    ReadingKind.HEART_RATE: "vitals_heart_rate",
    ReadingKind.SPO2: "vitals_spo2",
    ReadingKind.BLOOD_PRESSURE: "vitals_blood_pressure",
    ReadingKind.TEMPERATURE: "vitals_temperature",
    ReadingKind.WEIGHT: "vitals_weight",
}


@quick_init
@dataclass(frozen=True, slots=True)
class PatientState(Frozen):
    """Everything the rules remember about one patient between readings (bounded, a few hundred bytes)."""

    glucose: GlucoseState = field(default_factory=GlucoseState)
    vitals: VitalsState = field(default_factory=VitalsState)


def usable_value(reading: Reading) -> float | None:
    """The reading's value when it is a finite, plausible number; None otherwise."""
    v = reading.value
    if v is None or not math.isfinite(v):
        return None
    if reading.kind in GLUCOSE_KINDS and not PLAUSIBLE_MGDL[0] <= v <= PLAUSIBLE_MGDL[1]:
        return None
    return v


def score(state: PatientState, reading: Reading, now: datetime, *, targets: Targets = DEFAULT_TARGETS,
          forecaster: Forecaster | None = None) -> tuple[PatientState, tuple[Finding, ...]]:
    """Scores one reading on its event time; `now` (wall time) is deliberately unused by every rule here."""
    del now  # only the no-data rule uses wall time, and it lives in monitor.engine.tick
    value = usable_value(reading)
    if value is None:
        return state, ()
    return score_value(state, reading.kind, reading.reading_id, reading.measured_at, value,
                       reading.components.get("diastolic"), targets, forecaster)


def score_value(state: PatientState, kind: ReadingKind, reading_id: str, at: datetime, value: float,
                diastolic: float | None, targets: Targets, forecaster: Forecaster | None
                ) -> tuple[PatientState, tuple[Finding, ...]]:
    """score() on a reading's parts and its usable value: the engine's hot path builds no Reading."""
    if kind in GLUCOSE_KINDS:
        glucose, found = glucose_findings(state.glucose, reading_id, at, value, targets, forecaster)
        return PatientState(glucose, state.vitals), tuple(found)
    if kind in VITAL_FAMILIES:
        vitals, found = vitals_findings_of(state.vitals, kind, reading_id, at, value, diastolic, targets)
        return PatientState(state.glucose, vitals), tuple(found)
    return state, ()  # carbs and insulin are recorded context, never scored


GLUCOSE_FAMILIES: Final = frozenset({"low", "high", "fall", "rise"})
FAMILIES_OF_KIND: Final[dict[ReadingKind, frozenset[str]]] = {
    kind: GLUCOSE_FAMILIES if kind in GLUCOSE_KINDS else
    frozenset({VITAL_FAMILIES[kind]}) if kind in VITAL_FAMILIES else frozenset() for kind in ReadingKind}
_NONE: Final[frozenset[str]] = frozenset()
_LOW: Final = frozenset({"low"})
_HIGH: Final = frozenset({"high"})


def clear_of(state: PatientState, kind: ReadingKind, value: float, diastolic: float | None,
             targets: Targets) -> frozenset[str]:
    """Families this (already scored) reading counts as "back to normal" for, before hysteresis."""
    if kind in GLUCOSE_KINDS:
        slope = state.glucose.slope
        clear = set()
        if value >= targets.low_resolve_above:
            clear.add("low")
        if value <= targets.high_resolve_below:
            clear.add("high")
        if slope is None or slope > -RECOVERING_MGDL_PER_MIN:
            clear.add("fall")
        if slope is None or slope < RECOVERING_MGDL_PER_MIN:
            clear.add("rise")
        return frozenset(clear)
    family = VITAL_FAMILIES.get(kind)
    if family is not None and is_normal_value(kind, value, diastolic, targets):
        return frozenset({family})
    return _NONE


def recovering_families(state: PatientState) -> frozenset[str]:
    """Smart snooze: glucose clearly heading back to range (rising from a low, falling from a high)."""
    slope = state.glucose.slope
    if slope is None:
        return _NONE
    if slope >= RECOVERING_MGDL_PER_MIN:
        return _LOW
    if slope <= -RECOVERING_MGDL_PER_MIN:
        return _HIGH
    return _NONE
