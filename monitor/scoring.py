"""Pure scoring: (patient state, reading, event time) -> (new state, findings); no faust, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from models.api import Forecaster
from monitor.findings import Finding
from monitor.records import GLUCOSE_KINDS, Reading, ReadingKind
from monitor.rules_glucose import GlucoseState, glucose_findings
from monitor.rules_vitals import VitalsState, is_normal, vitals_findings
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


@dataclass(frozen=True, slots=True)
class PatientState:
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
    if reading.kind in GLUCOSE_KINDS:
        glucose, found = glucose_findings(state.glucose, reading.reading_id, reading.measured_at, value, targets,
                                          forecaster)
        return replace(state, glucose=glucose), tuple(found)
    if reading.kind in VITAL_FAMILIES:
        vitals, found = vitals_findings(state.vitals, reading, targets)
        return replace(state, vitals=vitals), tuple(found)
    return state, ()  # carbs and insulin are recorded context, never scored


GLUCOSE_FAMILIES: Final = frozenset({"low", "high", "fall", "rise"})


def families_of(reading: Reading) -> frozenset[str]:
    """Episode families a reading of this kind can speak for; other families ignore it."""
    if reading.kind in GLUCOSE_KINDS:
        return GLUCOSE_FAMILIES
    family = VITAL_FAMILIES.get(reading.kind)
    return frozenset() if family is None else frozenset({family})


def clear_families(state: PatientState, reading: Reading, targets: Targets = DEFAULT_TARGETS) -> frozenset[str]:
    """Families this (already scored) reading counts as "back to normal" for, before hysteresis."""
    value = usable_value(reading)
    if value is None:
        return frozenset()
    if reading.kind in GLUCOSE_KINDS:
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
    family = VITAL_FAMILIES.get(reading.kind)
    if family is not None and is_normal(reading, targets):
        return frozenset({family})
    return frozenset()


def recovering_families(state: PatientState) -> frozenset[str]:
    """Smart snooze: glucose clearly heading back to range (rising from a low, falling from a high)."""
    slope = state.glucose.slope
    if slope is None:
        return frozenset()
    if slope >= RECOVERING_MGDL_PER_MIN:
        return frozenset({"low"})
    if slope <= -RECOVERING_MGDL_PER_MIN:
        return frozenset({"high"})
    return frozenset()
