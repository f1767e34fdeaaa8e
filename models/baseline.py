"""The baselines every vigil forecaster must beat: Nightscout's AR2 (and its avgLoss alarm), last value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from models.api import Z90, ContextEvent, Forecast, ForecastPoint

BG_REF: Final = 140.0
BG_MIN: Final = 36.0
BG_MAX: Final = 400.0
AR: Final = (-0.723, 1.716)
STEP_MINUTES: Final = 5
STEPS: Final = 12  # 5..60 minutes
# Nightscout's one-sigma cone in log space per 5-minute step (lib/plugins/ar2.js, forecastCone).
CONE: Final = (0.020, 0.041, 0.061, 0.081, 0.099, 0.116, 0.132, 0.146, 0.159, 0.171, 0.182, 0.192, 0.201)
MAX_AGE: Final = timedelta(minutes=10)  # silent when the last reading is older than this
PREV_MIN_GAP: Final = timedelta(minutes=2.5)  # a reading closer than this to the latest is a duplicate
PREV_DIRECT: Final = timedelta(minutes=9.5)  # Nightscout delta: beyond this it interpolates to 5 minutes
PREV_MAX_GAP: Final = timedelta(minutes=15)  # no previous reading within this: no forecast
AVG_LOSS_STEPS: Final = 6
WARN_THRESHOLD: Final = 0.05
URGENT_THRESHOLD: Final = 0.10
LOSS_REF: Final = 120.0
TARGET_BOTTOM: Final = 80.0
TARGET_TOP: Final = 180.0


def _js_round(x: float) -> float:
    """JavaScript Math.round (half up), which Nightscout applies to every forecast point."""
    return float(math.floor(x + 0.5))


def _clamp(bg: float) -> float:
    return max(BG_MIN, min(BG_MAX, bg))


def _latest(times: Sequence[datetime], values: Sequence[float], now: datetime) -> int | None:
    """Index of the newest reading at or before `now`, or None if there is none or it is too old."""
    if len(times) != len(values):
        raise ValueError(f"{len(times)} times but {len(values)} values")
    for i in range(len(times) - 1, -1, -1):
        if times[i] <= now:
            return i if now - times[i] <= MAX_AGE else None
    return None


def ar2_inputs(
    times: Sequence[datetime], values_mgdl: Sequence[float], now: datetime
) -> tuple[float, float] | None:
    """(BG 5 minutes ago, BG now), both clamped to 36-400, as Nightscout's delta plugin builds them.

    The previous reading is the newest one at least 2.5 minutes before the latest; up to 9.5 minutes
    back it counts as "5 minutes ago", further back (up to 15) it is linearly interpolated to 5 minutes.
    """
    last = _latest(times, values_mgdl, now)
    if last is None:
        return None
    curr = _clamp(values_mgdl[last])
    for j in range(last - 1, -1, -1):
        gap = times[last] - times[j]
        if gap < PREV_MIN_GAP:
            continue
        if gap > PREV_MAX_GAP:
            return None
        prev = _clamp(values_mgdl[j])
        if gap > PREV_DIRECT:
            prev = curr - (curr - prev) / (gap / timedelta(minutes=1)) * STEP_MINUTES
            prev = _clamp(prev)
        return prev, curr
    return None


def ar2_path(prev_mgdl: float, curr_mgdl: float, steps: int = STEPS) -> list[float]:
    """The unrounded log-space AR2 states x_1..x_steps, x = ln(BG/140)."""
    x_prev, x_curr = math.log(prev_mgdl / BG_REF), math.log(curr_mgdl / BG_REF)
    path = []
    for _ in range(steps):
        x_prev, x_curr = x_curr, AR[0] * x_prev + AR[1] * x_curr
        path.append(x_curr)
    return path


_PREV_MIN_GAP_S: Final = 150
_PREV_DIRECT_S: Final = 570
_PREV_MAX_GAP_S: Final = 900
_MAX_AGE_US: Final = 600_000_000


def ar2_medians(times_s: Sequence[int], values_mgdl: Sequence[float], now_s: int, now_us: int = 0,
                steps: int = STEPS) -> list[float] | None:
    """The p50 of AR2.forecast() at 5, 10, ... 5 x steps minutes for whole-second epoch times, without building
    datetimes or ForecastPoints (the scoring hot path); `now` is now_s seconds plus now_us microseconds.

    Equal to [p.p50 for p in AR2().forecast(times as UTC datetimes, values, now).points]: the same
    comparisons in integer seconds and the same arithmetic (tests/models/test_baseline.py checks it).
    """
    if len(times_s) != len(values_mgdl):
        raise ValueError(f"{len(times_s)} times but {len(values_mgdl)} values")
    last = -1
    for i in range(len(times_s) - 1, -1, -1):
        if times_s[i] <= now_s:
            if (now_s - times_s[i]) * 1_000_000 + now_us > _MAX_AGE_US:
                return None
            last = i
            break
    if last < 0:
        return None
    curr = _clamp(values_mgdl[last])
    t_last = times_s[last]
    for j in range(last - 1, -1, -1):
        gap = t_last - times_s[j]
        if gap < _PREV_MIN_GAP_S:
            continue
        if gap > _PREV_MAX_GAP_S:
            return None
        prev = _clamp(values_mgdl[j])
        if gap > _PREV_DIRECT_S:
            prev = _clamp(curr - (curr - prev) / (gap / 60) * STEP_MINUTES)
        break
    else:
        return None
    x_prev, x_curr = math.log(prev / BG_REF), math.log(curr / BG_REF)
    out = []
    exp, floor = math.exp, math.floor
    for _ in range(min(steps, STEPS)):
        x_prev, x_curr = x_curr, AR[0] * x_prev + AR[1] * x_curr
        bg = float(floor(BG_REF * exp(x_curr) + 0.5))
        out.append(BG_MIN if bg < BG_MIN else BG_MAX if bg > BG_MAX else bg)
    return out


@dataclass(frozen=True, slots=True)
class AR2:
    """Nightscout's AR2 forecaster (cgm-remote-monitor lib/plugins/ar2.js), 5 to 60 minutes ahead.

    p10/p90 come from Nightscout's one-sigma cone scaled to the 10th/90th percentile.
    """

    name: str = "ar2"
    version: str = "nightscout-ar2-1"

    def forecast(
        self,
        times: Sequence[datetime],
        values_mgdl: Sequence[float],
        now: datetime,
        context: Sequence[ContextEvent] = (),
    ) -> Forecast | None:
        inputs = ar2_inputs(times, values_mgdl, now)
        if inputs is None:
            return None
        points = []
        for step, x in enumerate(ar2_path(*inputs), start=1):
            spread = Z90 * CONE[step - 1]
            points.append(ForecastPoint(
                minutes=step * STEP_MINUTES,
                p10=_clamp(_js_round(BG_REF * math.exp(x - spread))),
                p50=_clamp(_js_round(BG_REF * math.exp(x))),
                p90=_clamp(_js_round(BG_REF * math.exp(x + spread))),
            ))
        return Forecast(made_at=now, points=tuple(points), model_name=self.name, model_version=self.version)


class AR2Level(StrEnum):
    NONE = "none"
    WARN = "warn"
    URGENT = "urgent"


@dataclass(frozen=True, slots=True)
class AR2Alarm:
    """Nightscout's AR2 alarm: avgLoss over the first 30 minutes; is the 20-minute point low or high."""

    avg_loss: float
    level: AR2Level
    event: str  # "low", "high" or "" (Nightscout's eventName)


def ar2_alarm(forecast: Forecast) -> AR2Alarm:
    """avgLoss = sum over the 5..30 minute points of (1/5)*log10(BG/120)^2; warn > 0.05, urgent > 0.10."""
    medians = [p.p50 for p in forecast.points if p.minutes <= AVG_LOSS_STEPS * STEP_MINUTES]
    if len(medians) < AVG_LOSS_STEPS:
        raise ValueError(f"AR2 alarm needs {AVG_LOSS_STEPS} points up to 30 minutes, got {len(medians)}")
    size = AVG_LOSS_STEPS - 1  # Nightscout: size = min(predicted.length - 1, 6) with 6 points
    avg_loss = sum(math.log10(bg / LOSS_REF) ** 2 for bg in medians) / size
    if avg_loss > URGENT_THRESHOLD:
        level = AR2Level.URGENT
    elif avg_loss > WARN_THRESHOLD:
        level = AR2Level.WARN
    else:
        level = AR2Level.NONE
    in20 = forecast.at(20)
    event = ""
    if in20 is not None and level is not AR2Level.NONE:
        if in20.p50 > TARGET_TOP:
            event = "high"
        elif in20.p50 < TARGET_BOTTOM:
            event = "low"
    return AR2Alarm(avg_loss=avg_loss, level=level, event=event)


@dataclass(frozen=True, slots=True)
class LastValue:
    """The naive baseline: glucose stays where it is (zero-width interval), 5 to 60 minutes ahead."""

    name: str = "last_value"
    version: str = "last-value-1"

    def forecast(
        self,
        times: Sequence[datetime],
        values_mgdl: Sequence[float],
        now: datetime,
        context: Sequence[ContextEvent] = (),
    ) -> Forecast | None:
        last = _latest(times, values_mgdl, now)
        if last is None:
            return None
        bg = _clamp(values_mgdl[last])
        points = tuple(ForecastPoint(m, bg, bg, bg) for m in range(STEP_MINUTES, STEPS * STEP_MINUTES + 1, 5))
        return Forecast(made_at=now, points=points, model_name=self.name, model_version=self.version)
