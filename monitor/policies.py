"""Alert policies as pure functions over one patient's readings: vigil's engine and the design's baselines."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from models.api import Forecaster
from monitor import engine
from monitor.records import GLUCOSE_KINDS, Alert, AlertState, Reading

LOW_KINDS: Final = frozenset({"low", "urgent_low", "predicted_low", "urgent_low_soon", "ar2_low"})
HIGH_KINDS: Final = frozenset({"high", "very_high", "urgent_high", "persistent_high", "ar2_high"})
TREND_KINDS: Final = frozenset({"rapid_fall", "rapid_rise"})
ALERTING_STATES: Final = frozenset({AlertState.OPEN, AlertState.ESCALATED})


def side_of(kind: str) -> str:
    """Which clinical side an alert kind is on: low, high, trend or data (missed readings, failures)."""
    if kind in LOW_KINDS or kind.endswith("low"):
        return "low"
    if kind in HIGH_KINDS or kind.endswith("high"):
        return "high"
    return "trend" if kind in TREND_KINDS else "data"


@dataclass(frozen=True, slots=True)
class PolicyAlert:
    """One alert a person would receive under a policy: when, what and on which value."""

    policy: str
    patient_key: str
    at: datetime
    kind: str
    value_mgdl: float | None
    alert_id: str | None = None

    @property
    def side(self) -> str:
        return side_of(self.kind)


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    mgdl: float


Policy = Callable[[str, Sequence[Reading]], list[PolicyAlert]]


def glucose_points(readings: Sequence[Reading]) -> list[Point]:
    return [Point(r.measured_at, r.value) for r in readings if r.kind in GLUCOSE_KINDS and r.value is not None]


@functools.cache
def _worker_lookup(store: str | None, home: str | None) -> Callable[[str], Forecaster]:
    """The worker's forecaster lookup, loaded once per model store (the arguments key the cache)."""
    from models.registry import worker_forecasters

    del store, home  # read again by worker_forecasters from the environment
    return worker_forecasters()


def prepare_policies() -> None:
    """Loads what the default policy needs once (the worker's forecaster lookup), e.g. before forking."""
    _worker_lookup(os.environ.get("VIGIL_MODEL_STORE"), os.environ.get("VIGIL_HOME"))


def engine_alerts(readings: Sequence[Reading]) -> list[Alert]:
    """vigil's production engine on one patient's readings in order, with event time as `now`.

    The forecaster is the worker's: the promoted registry model (VIGIL_MODEL_STORE), else AR2, so an offline
    evaluation and a replay through the worker give the same alerts.
    """
    state: engine.MonitorState | None = None
    out: list[Alert] = []
    if not readings:
        return out
    forecaster = _worker_lookup(os.environ.get("VIGIL_MODEL_STORE"), os.environ.get("VIGIL_HOME"))(
        readings[0].patient_key)
    for reading in readings:
        step = engine.process(state, reading, reading.measured_at, forecaster=forecaster)
        state = step.state
        out.extend(step.alerts)
    return out


def vigil_default(patient_key: str, readings: Sequence[Reading]) -> list[PolicyAlert]:
    """The engine's open and escalation records are what a person receives; resolutions are not alerts."""
    return [PolicyAlert("default", patient_key, a.triggered_at, a.kind, a.value_mgdl, a.alert_id)
            for a in engine_alerts(readings) if a.state in ALERTING_STATES]


Level = tuple[str, str, int]  # (kind, side, rank)


def _on_entry(name: str, patient_key: str, points: Sequence[Point],
              levels: Sequence[Level | None]) -> list[PolicyAlert]:
    """Alerts when a point enters a side or a worse level than the previous point's; leaving re-arms it."""
    out: list[PolicyAlert] = []
    previous: Level | None = None
    for p, level in zip(points, levels, strict=True):
        if level is not None and (previous is None or level[1] != previous[1] or level[2] > previous[2]):
            out.append(PolicyAlert(name, patient_key, p.at, level[0], p.mgdl))
        previous = level
    return out


def nightscout_simple(patient_key: str, readings: Sequence[Reading]) -> list[PolicyAlert]:
    """Nightscout's simple alarms: the last reading against 55/80/180/260, alarming on each level entry."""
    def classify(p: Point) -> Level | None:
        if p.mgdl < 55:
            return ("urgent_low", "low", 2)
        if p.mgdl < 80:
            return ("low", "low", 1)
        if p.mgdl > 260:
            return ("urgent_high", "high", 2)
        if p.mgdl > 180:
            return ("high", "high", 1)
        return None

    points = glucose_points(readings)
    return _on_entry("nightscout-simple", patient_key, points, [classify(p) for p in points])


AR2_REF: Final = 140.0
AR2_COEF: Final = (-0.723, 1.716)
AR2_STEPS: Final = 6
AR2_WARN: Final = 0.05
AR2_URGENT: Final = 0.10


def ar2_forecast(previous_mgdl: float, current_mgdl: float, steps: int = AR2_STEPS) -> list[float]:
    """Nightscout's AR2 on x = ln(BG/140), BG clamped to 36-400, one step per 5 minutes (lib/plugins/ar2.js)."""
    x_prev = math.log(min(400.0, max(36.0, previous_mgdl)) / AR2_REF)
    x_curr = math.log(min(400.0, max(36.0, current_mgdl)) / AR2_REF)
    out = []
    for _ in range(steps):
        x_prev, x_curr = x_curr, AR2_COEF[0] * x_prev + AR2_COEF[1] * x_curr
        out.append(AR2_REF * math.exp(x_curr))
    return out


def ar2_loss(forecast: Sequence[float]) -> float:
    """avgLoss = sum of (1/5) * log10(pred/120)^2 over the forecast steps (design section 4)."""
    return sum(0.2 * math.log10(p / 120.0) ** 2 for p in forecast)


def nightscout_ar2(patient_key: str, readings: Sequence[Reading]) -> list[PolicyAlert]:
    """AR2 alarm: warn above loss 0.05, urgent above 0.10; low or high from the last forecast step vs 120.

    It needs the reading about 5 minutes (2.5-7.5) before the latest; otherwise it stays silent.
    """
    points = glucose_points(readings)
    levels: list[Level | None] = []
    for prev, cur in zip([None, *points[:-1]], points, strict=True):
        level: Level | None = None
        if prev is not None and timedelta(minutes=2.5) <= cur.at - prev.at <= timedelta(minutes=7.5):
            forecast = ar2_forecast(prev.mgdl, cur.mgdl)
            loss = ar2_loss(forecast)
            rank = 2 if loss > AR2_URGENT else 1 if loss > AR2_WARN else 0
            if rank:
                low = forecast[-1] < 120.0
                level = ("ar2_low" if low else "ar2_high", "low" if low else "high", rank)
        levels.append(level)
    return _on_entry("nightscout-ar2", patient_key, points, levels)


def _slope(window: Sequence[Point]) -> float | None:
    """mg/dL per minute from the first to the last point of a window (None if it spans no time)."""
    if len(window) < 2:
        return None
    minutes = (window[-1].at - window[0].at).total_seconds() / 60.0
    return None if minutes <= 0 else (window[-1].mgdl - window[0].mgdl) / minutes


def _recent(points: Sequence[Point], i: int, count: int, span: timedelta) -> list[Point]:
    window = [p for p in points[max(0, i - count + 1):i + 1] if points[i].at - p.at <= span]
    return window if len(window) == count else []


@dataclass
class _Latch:
    """Fires once when a condition becomes true, re-arms when it becomes false."""

    active: bool = False

    def fire(self, condition: bool) -> bool:
        fired = condition and not self.active
        self.active = condition
        return fired


def xdrip_like(patient_key: str, readings: Sequence[Reading]) -> list[PolicyAlert]:
    """xDrip+-style: low 70, persistent high >170 for 60 min (repeat 20), rise/fall 3 mg/dL/min over 4 readings,
    forecast low (linear trend under 70 within 40 min), missed readings after 30 min."""
    name = "xdrip-like"
    points = glucose_points(readings)
    out: list[PolicyAlert] = []
    low, fall, rise, forecast = _Latch(), _Latch(), _Latch(), _Latch()
    high_since: datetime | None = None
    high_last: datetime | None = None
    for i, p in enumerate(points):
        if i and p.at - points[i - 1].at > timedelta(minutes=30):
            out.append(PolicyAlert(name, patient_key, points[i - 1].at + timedelta(minutes=30), "missed_readings",
                                   None))
        if low.fire(p.mgdl < 70):
            out.append(PolicyAlert(name, patient_key, p.at, "low", p.mgdl))
        if p.mgdl > 170:
            high_since = high_since or p.at
            due = high_since + timedelta(minutes=60) if high_last is None else high_last + timedelta(minutes=20)
            if p.at >= due:
                out.append(PolicyAlert(name, patient_key, p.at, "persistent_high", p.mgdl))
                high_last = p.at
        else:
            high_since = high_last = None
        slope = _slope(_recent(points, i, 4, timedelta(minutes=20)))
        if fall.fire(slope is not None and slope <= -3.0):
            out.append(PolicyAlert(name, patient_key, p.at, "rapid_fall", p.mgdl))
        if rise.fire(slope is not None and slope >= 3.0):
            out.append(PolicyAlert(name, patient_key, p.at, "rapid_rise", p.mgdl))
        predicted = None if slope is None else p.mgdl + 40.0 * slope
        if forecast.fire(predicted is not None and p.mgdl >= 70 and predicted < 70):
            out.append(PolicyAlert(name, patient_key, p.at, "predicted_low", p.mgdl))
    return out


def dexcom_like(patient_key: str, readings: Sequence[Reading]) -> list[PolicyAlert]:
    """Dexcom-style: urgent low 55 repeated every 5 min (no confirmations in offline data), urgent low soon
    (linear trend under 55 within 20 min), low 70, high 250, rise/fall 3 mg/dL/min over 3 readings."""
    name = "dexcom-like"
    points = glucose_points(readings)
    out: list[PolicyAlert] = []
    low, high, soon, fall, rise = _Latch(), _Latch(), _Latch(), _Latch(), _Latch()
    urgent_last: datetime | None = None
    for i, p in enumerate(points):
        if p.mgdl < 55:
            if urgent_last is None or p.at - urgent_last >= timedelta(minutes=5):
                out.append(PolicyAlert(name, patient_key, p.at, "urgent_low", p.mgdl))
                urgent_last = p.at
        else:
            urgent_last = None
        if low.fire(p.mgdl < 70) and p.mgdl >= 55:
            out.append(PolicyAlert(name, patient_key, p.at, "low", p.mgdl))
        if high.fire(p.mgdl > 250):
            out.append(PolicyAlert(name, patient_key, p.at, "high", p.mgdl))
        slope = _slope(_recent(points, i, 3, timedelta(minutes=15)))
        predicted = None if slope is None else p.mgdl + 20.0 * slope
        if soon.fire(predicted is not None and p.mgdl >= 55 and predicted < 55):
            out.append(PolicyAlert(name, patient_key, p.at, "urgent_low_soon", p.mgdl))
        if fall.fire(slope is not None and slope <= -3.0):
            out.append(PolicyAlert(name, patient_key, p.at, "rapid_fall", p.mgdl))
        if rise.fire(slope is not None and slope >= 3.0):
            out.append(PolicyAlert(name, patient_key, p.at, "rapid_rise", p.mgdl))
    return out


POLICIES: Final[Mapping[str, Policy]] = {
    "default": vigil_default,
    "nightscout-simple": nightscout_simple,
    "nightscout-ar2": nightscout_ar2,
    "xdrip-like": xdrip_like,
    "dexcom-like": dexcom_like,
}
