"""A small, seeded cohort of 5-minute CGM traces with meals, lows and gaps, for tests and benchmarks."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from monitor.pseudonym import patient_key
from monitor.records import Reading, ReadingKind, Source, reading_id_for

STEP: Final = timedelta(minutes=5)
START: Final = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CohortSpec:
    """How big the cohort is and which seed makes it; the same spec always gives the same readings."""

    patients: int = 10
    days: int = 7
    seed: int = 42
    start: datetime = START
    lows_per_day: float = 1.2
    gap_chance: float = 0.002  # chance per reading that a sensor gap of 20-60 minutes starts


def _bump(t: float, at: float, height: float, width: float) -> float:
    """A smooth excursion (meal rise or low dip) of `height` mg/dL centred `width` minutes after `at`."""
    dt = t - at
    if dt < 0 or dt > 6 * width:
        return 0.0
    return height * (dt / width) * math.exp(1 - dt / width)


def _patient(index: int, spec: CohortSpec, secret: bytes) -> list[Reading]:
    rng = random.Random(spec.seed * 1000 + index)
    pkey = patient_key(f"synthetic-{spec.seed}-{index:03d}", secret)
    device = f"sim-cgm-{index:03d}"
    minutes = spec.days * 24 * 60
    base = rng.uniform(110, 150)
    events: list[tuple[float, float, float]] = []
    carbs: list[tuple[float, float]] = []
    for day in range(spec.days):
        for meal_hour in (7.5, 12.5, 19.0):
            when = day * 1440 + meal_hour * 60 + rng.uniform(-40, 40)
            grams = rng.choice((30, 45, 60, 75))
            events.append((when, grams * rng.uniform(1.2, 2.2), rng.uniform(35, 60)))
            carbs.append((when, float(grams)))
        for _ in range(int(spec.lows_per_day) + (rng.random() < spec.lows_per_day % 1)):
            when = day * 1440 + rng.uniform(0, 1440)
            depth = rng.uniform(40, 110)  # some dips reach below 70, a few below 54
            events.append((when, -depth, rng.uniform(15, 40)))
    readings: list[Reading] = []
    gap_until = -1.0
    drift = 0.0
    value: float
    for step_index in range(minutes // 5):
        t = step_index * 5.0
        drift = 0.9 * drift + rng.gauss(0, 2.0)
        if t < gap_until:
            continue
        if rng.random() < spec.gap_chance:
            gap_until = t + rng.choice((20, 35, 60))
            continue
        value = base + 15 * math.sin(2 * math.pi * t / 1440) + drift + sum(_bump(t, *e) for e in events)
        value = round(min(400.0, max(40.0, value)), 1)
        at = spec.start + timedelta(minutes=t)
        readings.append(Reading(reading_id=reading_id_for(device, "cgm", step_index, at), patient_key=pkey,
                                device_id=device, kind=ReadingKind.CGM, value=value, unit="mg/dL", measured_at=at,
                                received_at=at, source=Source.SIMULATOR, sequence=step_index))
    for at_min, amount in carbs:
        at = spec.start + timedelta(minutes=round(at_min))
        readings.append(Reading(reading_id=reading_id_for(device + "-ctx", "carbs", None, at), patient_key=pkey,
                                device_id=device, kind=ReadingKind.CARBS, value=amount, unit="g", measured_at=at,
                                received_at=at, source=Source.SIMULATOR, context="meal"))
    readings.sort(key=lambda r: r.measured_at)
    return readings


def generate(spec: CohortSpec, secret: bytes) -> list[Reading]:
    """All patients' readings, each patient in event-time order, patients one after the other."""
    return [r for i in range(spec.patients) for r in _patient(i, spec, secret)]
