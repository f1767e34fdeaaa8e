"""Vital-sign rules (heart rate, SpO2, blood pressure, temperature, weight trend) against defaults or baselines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from monitor.epoch import seconds as epoch_seconds
from monitor.findings import Finding
from monitor.frozen import Frozen, quick_init
from monitor.records import Reading, ReadingKind, Severity
from monitor.targets import Targets

CONFIRM_WITHIN_S: Final = 15 * 60
WEIGHTS_KEPT: Final = 8


@quick_init
@dataclass(frozen=True, slots=True)
class VitalsState(Frozen):
    """The last abnormal heart rate / SpO2 (for "sustained") and recent weights (for the 3-day trend)."""

    hr_abnormal_at: int | None = None
    spo2_low_at: int | None = None
    weights: tuple[tuple[int, float], ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class _Seen(Frozen):
    """The parts of a reading a vitals finding cites."""

    reading_id: str
    measured_at: datetime
    kind: ReadingKind


def _f(family: str, level: str, severity: Severity, rule: str, reason: str, r: _Seen, value: float,
       thresholds: dict[str, float], values: dict[str, float] | None = None) -> Finding:
    return Finding(family=family, level=level, kind=family if level == family else level, severity=severity,
                   rule=rule, reason=reason, reading_ids=(r.reading_id,), measured_at=r.measured_at,
                   value=value, thresholds=tuple(thresholds.items()),
                   values=tuple((values or {r.kind.value: value}).items()))


def hr_bounds(targets: Targets) -> tuple[float, float]:
    """Heart-rate limits: the absolute defaults, tightened around the patient's baseline when known."""
    if targets.hr_baseline is None:
        return targets.hr_low, targets.hr_high
    return (max(targets.hr_low, targets.hr_baseline - targets.hr_deviation),
            min(targets.hr_high, targets.hr_baseline + targets.hr_deviation))


def spo2_bounds(targets: Targets) -> tuple[float, float]:
    """(warning, urgent) SpO2 limits; a patient's baseline (e.g. COPD) moves them below it."""
    if targets.spo2_baseline is None:
        return targets.spo2_low, targets.spo2_urgent
    return (min(targets.spo2_low, targets.spo2_baseline - 3.0), min(targets.spo2_urgent, targets.spo2_baseline - 5.0))


# globals: each `ReadingKind.X` builds a method-wrapper (dedup.NEW says why)
_HEART_RATE, _SPO2, _BLOOD_PRESSURE, _TEMPERATURE, _WEIGHT = (
    ReadingKind.HEART_RATE, ReadingKind.SPO2, ReadingKind.BLOOD_PRESSURE, ReadingKind.TEMPERATURE, ReadingKind.WEIGHT)


def is_normal(reading: Reading, targets: Targets) -> bool:
    """Whether a vital reading is back within limits (an open vitals episode resolves on it)."""
    v = reading.value
    if v is None:
        return False
    return is_normal_value(reading.kind, v, reading.components.get("diastolic"), targets)


def is_normal_value(kind: ReadingKind, v: float, diastolic: float | None, targets: Targets) -> bool:
    """is_normal() on a reading's parts (a missing diastolic counts as normal)."""
    if kind is _HEART_RATE:
        lo, hi = hr_bounds(targets)
        return lo <= v <= hi
    if kind is _SPO2:
        return v >= spo2_bounds(targets)[0]
    if kind is _BLOOD_PRESSURE:
        dia = 0.0 if diastolic is None else diastolic
        return targets.sbp_low <= v < targets.sbp_high and dia < targets.dbp_high
    if kind is _TEMPERATURE:
        return v < targets.temp_high
    return kind is _WEIGHT


def vitals_findings(state: VitalsState, r: Reading, targets: Targets) -> tuple[VitalsState, list[Finding]]:
    """Scores one vital-sign reading; heart rate and mild SpO2 lows need a second reading (sustained)."""
    if r.value is None:
        return state, []
    return vitals_findings_of(state, r.kind, r.reading_id, r.measured_at, r.value, r.components.get("diastolic"),
                              targets)


def vitals_findings_of(state: VitalsState, kind: ReadingKind, reading_id: str, at: datetime, v: float,
                       diastolic: float | None, targets: Targets) -> tuple[VitalsState, list[Finding]]:
    """vitals_findings() on a reading's parts: the engine's hot path builds no Reading."""
    r = _Seen(reading_id, at, kind)
    t = epoch_seconds(at)
    out: list[Finding] = []
    if r.kind is _HEART_RATE:
        lo, hi = hr_bounds(targets)
        abnormal = not lo <= v <= hi
        confirmed = abnormal and state.hr_abnormal_at is not None and 0 < t - state.hr_abnormal_at <= CONFIRM_WITHIN_S
        if confirmed:
            out.append(_f("vitals_heart_rate", "vitals_heart_rate", Severity.WARNING, "heart_rate_sustained",
                          f"Heart rate {v:.0f} bpm on two readings, outside {lo:.0f}-{hi:.0f} bpm.", r, v,
                          {"hr_low_bpm": lo, "hr_high_bpm": hi}))
        keep = state.hr_abnormal_at if confirmed else (t if abnormal else None)
        return VitalsState(keep, state.spo2_low_at, state.weights), out
    if r.kind is _SPO2:
        warn, urgent = spo2_bounds(targets)
        if v < urgent:
            out.append(_f("vitals_spo2", "vitals_spo2_urgent", Severity.URGENT, f"spo2_below_{urgent:g}",
                          f"Oxygen saturation {v:.0f} % is below {urgent:.0f} %.", r, v, {"spo2_urgent_pct": urgent}))
        elif v < warn:
            prior = state.spo2_low_at
            if prior is not None and 0 < t - prior <= CONFIRM_WITHIN_S:
                out.append(_f("vitals_spo2", "vitals_spo2", Severity.WARNING, f"spo2_below_{warn:g}",
                              f"Oxygen saturation {v:.0f} % is below {warn:.0f} % on two readings.", r, v,
                              {"spo2_low_pct": warn}))
        return VitalsState(state.hr_abnormal_at, t if v < warn else None, state.weights), out
    if r.kind is _BLOOD_PRESSURE:
        dia = diastolic
        values = {"systolic_mmhg": v, **({} if dia is None else {"diastolic_mmhg": dia})}
        if v >= targets.sbp_high or (dia is not None and dia >= targets.dbp_high):
            out.append(_f("vitals_blood_pressure", "vitals_blood_pressure", Severity.URGENT, "bp_crisis",
                          f"Blood pressure {v:.0f}/{dia or 0:.0f} mmHg is at crisis level "
                          f"(>= {targets.sbp_high:.0f} systolic or >= {targets.dbp_high:.0f} diastolic).", r, v,
                          {"sbp_high_mmhg": targets.sbp_high, "dbp_high_mmhg": targets.dbp_high}, values))
        elif v < targets.sbp_low:
            out.append(_f("vitals_blood_pressure", "vitals_blood_pressure_low", Severity.WARNING, "bp_low",
                          f"Systolic blood pressure {v:.0f} mmHg is below {targets.sbp_low:.0f} mmHg.", r, v,
                          {"sbp_low_mmhg": targets.sbp_low}, values))
        return state, out
    if r.kind is _TEMPERATURE:
        if v >= targets.temp_high:
            out.append(_f("vitals_temperature", "vitals_temperature", Severity.WARNING, "fever",
                          f"Body temperature {v:.1f} °C is at or above {targets.temp_high:.1f} °C.", r, v,
                          {"temp_high_c": targets.temp_high}))
        return state, out
    if r.kind is _WEIGHT:
        horizon = int(targets.weight_days * 86400)
        recent = [w for w in state.weights if 0 < t - w[0] <= horizon]
        if recent:
            lightest = min(w[1] for w in recent)
            if v - lightest > targets.weight_gain_kg:
                out.append(_f("vitals_weight", "vitals_weight", Severity.WARNING, "weight_gain",
                              f"Weight up {v - lightest:.1f} kg in {targets.weight_days:g} days "
                              f"(limit {targets.weight_gain_kg:g} kg).", r, v,
                              {"weight_gain_kg": targets.weight_gain_kg, "days": targets.weight_days},
                              {"weight_kg": v, "min_weight_kg": lightest}))
        weights = tuple(sorted([w for w in state.weights if t - w[0] <= horizon and w[0] != t] + [(t, v)]))
        return VitalsState(state.hr_abnormal_at, state.spo2_low_at, weights[-WEIGHTS_KEPT:]), out
    return state, out
