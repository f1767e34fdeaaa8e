"""Synthetic but realistic load: N patients' CGM every 5 minutes plus some vitals, as contract Readings (pure)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.pseudonym import patient_key
from monitor.records import Reading, ReadingKind, Source, reading_id_for

T0 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
SECRET = b"vigil-bench-secret-0123456789"
HEART_RATE_EVERY = 3  # steps: one heart rate every 15 minutes
SPO2_EVERY = 6  # one SpO2 every 30 minutes
BP_EVERY = 96  # one blood pressure every 8 hours


@dataclass(frozen=True, slots=True)
class Patient:
    """One synthetic patient: a pseudonymous key and the shape of their glucose day."""

    key: str
    mean: float
    swing: float
    phase: float
    dips: bool  # some patients drop into hypoglycaemia once in a while (alerts)


def patients(n: int, seed: int = 7, dip_share: float = 0.3) -> list[Patient]:
    """n patients; dip_share of them have a hypoglycaemic dip every 6 hours."""
    rng = random.Random(seed)
    return [Patient(patient_key(f"bench-{seed}-{i:07d}", SECRET), rng.uniform(110, 170), rng.uniform(30, 80),
                    rng.uniform(0, 2 * math.pi), rng.random() < dip_share) for i in range(n)]


def glucose(p: Patient, step: int, rng: random.Random) -> float:
    """A smooth day curve (period 6 h), meal bumps, sensor noise, and for some patients a dip below 54."""
    minutes = step * 5
    value = p.mean + p.swing * math.sin(2 * math.pi * minutes / 360 + p.phase) + rng.gauss(0, 4)
    if p.dips:
        cycle = (step + int(p.phase * 10)) % 72  # one dip every 6 hours, 40 minutes long
        if cycle < 8:
            value = min(value, 95 - 7 * cycle)
    return max(40.0, min(400.0, value))


def _reading(p: Patient, device: str, kind: ReadingKind, unit: str, value: float, step: int,
             components: dict[str, float] | None = None) -> Reading:
    at = T0 + step * STEP
    return Reading(reading_id=reading_id_for(f"{device}-{p.key[:12]}", kind.value, step, at), patient_key=p.key,
                   device_id=device, kind=kind, value=round(value, 1), unit=unit, measured_at=at,
                   received_at=at + timedelta(seconds=3), source=Source.BLE, sequence=step,
                   components=components or {})


def readings_for_step(group: list[Patient], step: int, rng: random.Random) -> Iterator[Reading]:
    """All readings the patients' devices measure at one 5-minute step, in patient order."""
    for p in group:
        yield _reading(p, "cgm", ReadingKind.CGM, "mg/dL", glucose(p, step, rng), step)
        if step % HEART_RATE_EVERY == 0:
            yield _reading(p, "hr", ReadingKind.HEART_RATE, "bpm", rng.gauss(72, 8), step)
        if step % SPO2_EVERY == 0:
            yield _reading(p, "ox", ReadingKind.SPO2, "%", min(100.0, rng.gauss(97, 1.2)), step)
        if step % BP_EVERY == 0:
            sys_ = rng.gauss(125, 10)
            yield _reading(p, "bp", ReadingKind.BLOOD_PRESSURE, "mmHg", sys_, step,
                           {"systolic": round(sys_, 1), "diastolic": round(rng.gauss(80, 6), 1)})


def readings(group: list[Patient], total: int, first_step: int = 0, seed: int = 11) -> list[Reading]:
    """At least `total` readings (whole steps), in event-time order across patients, as a live feed would be."""
    return next(feed_chunks(group, total, first_step, seed))


def feed_chunks(group: list[Patient], per_chunk: int, first_step: int = 0, seed: int = 11,
                ) -> Iterator[list[Reading]]:
    """Successive feeds of at least `per_chunk` readings (whole steps) each, going on in event time: one worker
    can take them one after another, for as long as the caller needs (the broker's warm-up)."""
    rng = random.Random(seed)
    step = first_step
    while True:
        out: list[Reading] = []
        while len(out) < per_chunk:
            out.extend(readings_for_step(group, step, rng))
            step += 1
        yield out


def readings_per_step(n_patients: int) -> float:
    """Average readings per 5-minute step for n patients (CGM + heart rate + SpO2 + blood pressure)."""
    return n_patients * (1 + 1 / HEART_RATE_EVERY + 1 / SPO2_EVERY + 1 / BP_EVERY)
