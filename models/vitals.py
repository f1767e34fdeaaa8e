"""Each patient's own normal for heart rate, SpO2 and blood pressure: median and MAD bands, robust to outliers.

Alerts can then fire on deviation from the patient's own normal (a resting HR of 52 that jumps to 95)
rather than only on the population limits of the design (HR < 40 or > 130, SpO2 < 90, BP >= 180/120).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

MAD_TO_SD: Final = 1.4826  # MAD of a normal distribution times this is its standard deviation
BAND_K: Final = 3.0
MIN_READINGS: Final = 20
MIN_SPAN: Final = timedelta(days=3)
# A floor on the spread, so a very steady patient does not alert on measurement noise.
MIN_SPREAD: Final[Mapping[str, float]] = {
    "heart_rate": 3.0, "spo2": 1.0, "systolic": 5.0, "diastolic": 4.0,
}
# Physiologically possible values; anything outside is a device error and does not shape the baseline.
PLAUSIBLE: Final[Mapping[str, tuple[float, float]]] = {
    "heart_rate": (20.0, 250.0), "spo2": (50.0, 100.0), "systolic": (50.0, 260.0), "diastolic": (25.0, 160.0),
}


@dataclass(frozen=True, slots=True)
class VitalBaseline:
    """One patient's normal for one signal: median, robust spread and the band median +- k * spread."""

    signal: str
    median: float
    spread: float
    low: float
    high: float
    n: int

    def z(self, value: float) -> float:
        """Robust z-score of a new value against this baseline."""
        return (value - self.median) / self.spread

    def outside(self, value: float) -> bool:
        return value < self.low or value > self.high


def resting(times: Sequence[datetime], values: Sequence[float], quiet_hours: tuple[int, int] = (0, 6)
            ) -> list[float]:
    """Heart-rate values measured in the quiet hours (UTC unless times carry the patient's zone)."""
    start, end = quiet_hours
    return [v for t, v in zip(times, values, strict=True) if start <= t.hour < end]


def fit_baseline(signal: str, times: Sequence[datetime], values: Sequence[float]) -> VitalBaseline | None:
    """Median/MAD baseline from >= 20 plausible readings spanning >= 3 days; None with less history."""
    if signal not in PLAUSIBLE:
        raise ValueError(f"no baseline for signal {signal!r} (one of {', '.join(PLAUSIBLE)})")
    lo, hi = PLAUSIBLE[signal]
    kept = [(t, v) for t, v in zip(times, values, strict=True) if lo <= v <= hi]
    if len(kept) < MIN_READINGS:
        return None
    span = max(t for t, _ in kept) - min(t for t, _ in kept)
    if span < MIN_SPAN:
        return None
    vals = [v for _, v in kept]
    median = statistics.median(vals)
    mad = statistics.median(abs(v - median) for v in vals)
    spread = max(MAD_TO_SD * mad, MIN_SPREAD[signal])
    return VitalBaseline(signal=signal, median=median, spread=spread, low=median - BAND_K * spread,
                         high=median + BAND_K * spread, n=len(vals))
