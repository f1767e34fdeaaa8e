"""Pure scoring: (patient state, reading, event time) -> (new state, findings); no faust, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from monitor.records import GLUCOSE_KINDS, Reading, Severity

URGENT_LOW_MGDL: Final = 54.0  # level 2 hypoglycaemia (Battelino et al. 2019; ADA SoC section 6)
LOW_MGDL: Final = 70.0  # level 1 hypoglycaemia
SEEN_IDS_KEPT: Final = 256


@dataclass(frozen=True, slots=True)
class Targets:
    """A patient's thresholds in mg/dL; defaults are the consensus numbers of design section 4."""

    urgent_low: float = URGENT_LOW_MGDL
    low: float = LOW_MGDL


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict on one reading: what level, why, and on which values."""

    kind: str
    severity: Severity
    rule: str
    reason: str
    reading_id: str
    measured_at: datetime
    value_mgdl: float | None
    thresholds: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class PatientState:
    """Everything scoring remembers about one patient between readings."""

    patient_key: str
    targets: Targets = field(default_factory=Targets)
    last_glucose_at: datetime | None = None
    last_glucose_mgdl: float | None = None
    seen_ids: tuple[str, ...] = ()
    duplicates: int = 0


def new_state(patient_key: str, targets: Targets | None = None) -> PatientState:
    return PatientState(patient_key=patient_key, targets=targets or Targets())


def glucose_level(value_mgdl: float, targets: Targets) -> tuple[str, Severity] | None:
    """Classifies one glucose value against the patient's targets; None means in range."""
    if value_mgdl < targets.urgent_low:
        return "urgent_low", Severity.URGENT
    if value_mgdl < targets.low:
        return "low", Severity.WARNING
    return None


def score(state: PatientState, reading: Reading, now: datetime) -> tuple[PatientState, tuple[Finding, ...]]:
    """Scores one reading on event time; a reading already seen changes nothing and is counted."""
    del now  # event time drives glucose rules; wall time only drives the no-data timer
    if reading.reading_id in state.seen_ids:
        return replace(state, duplicates=state.duplicates + 1), ()
    seen = (*state.seen_ids, reading.reading_id)[-SEEN_IDS_KEPT:]
    state = replace(state, seen_ids=seen)
    if reading.kind not in GLUCOSE_KINDS or reading.value is None:
        return state, ()
    state = replace(state, last_glucose_at=reading.measured_at, last_glucose_mgdl=reading.value)
    level = glucose_level(reading.value, state.targets)
    if level is None:
        return state, ()
    kind, severity = level
    threshold = state.targets.urgent_low if kind == "urgent_low" else state.targets.low
    finding = Finding(
        kind=kind,
        severity=severity,
        rule=f"glucose_below_{int(threshold)}",
        reason=f"Glucose {reading.value:.0f} mg/dL is below {threshold:.0f} mg/dL.",
        reading_id=reading.reading_id,
        measured_at=reading.measured_at,
        value_mgdl=reading.value,
        thresholds=(("threshold_mgdl", threshold),),
    )
    return state, (finding,)
