"""Daily glucose summary (TIR, TBR, TAR, mean, GMI, CV, data sufficiency) against the consensus targets."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import orjson

from monitor.frozen import Frozen, quick_init
from monitor.records import SCHEMA_VERSION

EXPECTED_PER_DAY_5MIN: Final = 288
# International Consensus on Time in Range (Battelino et al., Diabetes Care 2019), most adults with T1D/T2D.
CONSENSUS: Final = {"tir_pct": (">", 70.0), "tbr_pct": ("<", 4.0), "tbr54_pct": ("<", 1.0),
                    "tar_pct": ("<", 25.0), "tar250_pct": ("<", 5.0), "cv_pct": ("<=", 36.0)}
SUFFICIENT_PCT: Final = 70.0  # >= 70 % of expected CGM data for a summary to be trusted


@quick_init
@dataclass(frozen=True, slots=True)
class DayStats(Frozen):
    """Running glucose counts for one UTC day: a handful of numbers, updated per reading."""

    day: str  # ISO date
    n: int = 0
    below54: int = 0
    below70: int = 0
    above180: int = 0
    above250: int = 0
    total: float = 0.0
    total_sq: float = 0.0


def add(stats: DayStats, value: float) -> DayStats:
    return DayStats(stats.day, stats.n + 1, stats.below54 + (value < 54), stats.below70 + (value < 70),
                    stats.above180 + (value > 180), stats.above250 + (value > 250), stats.total + value,
                    stats.total_sq + value * value)


def merge(a: DayStats, b: DayStats) -> DayStats:
    return DayStats(a.day, a.n + b.n, a.below54 + b.below54, a.below70 + b.below70, a.above180 + b.above180,
                    a.above250 + b.above250, a.total + b.total, a.total_sq + b.total_sq)


def stats_of(day: str, values: Iterable[float]) -> DayStats:
    stats = DayStats(day)
    for v in values:
        stats = add(stats, v)
    return stats


@dataclass(frozen=True, slots=True)
class Summary:
    """The summary of one patient over `days` days, on vigil.summaries.v1 (key: patient_key)."""

    patient_key: str
    start: str
    days: int
    readings: int
    sufficiency_pct: float
    tir_pct: float | None
    tbr_pct: float | None
    tbr54_pct: float | None
    tar_pct: float | None
    tar250_pct: float | None
    mean_mgdl: float | None
    gmi_pct: float | None
    cv_pct: float | None
    met: tuple[str, ...]
    missed: tuple[str, ...]
    sufficient: bool
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"type": "daily_summary", "schema_version": self.schema_version, "patient_key": self.patient_key,
                "start": self.start, "days": self.days, "readings": self.readings,
                "sufficiency_pct": self.sufficiency_pct, "tir_pct": self.tir_pct, "tbr_pct": self.tbr_pct,
                "tbr54_pct": self.tbr54_pct, "tar_pct": self.tar_pct, "tar250_pct": self.tar250_pct,
                "mean_mgdl": self.mean_mgdl, "gmi_pct": self.gmi_pct, "cv_pct": self.cv_pct,
                "met": list(self.met), "missed": list(self.missed), "sufficient": self.sufficient}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())


def _pct(part: int, n: int) -> float | None:
    return None if n == 0 else round(100.0 * part / n, 1)


def summarize(patient_key: str, stats: DayStats, days: int = 1,
              expected_per_day: int = EXPECTED_PER_DAY_5MIN) -> Summary:
    """Metrics of the consensus report; GMI (%) = 3.31 + 0.02392 x mean mg/dL (Bergenstal et al. 2018)."""
    n = stats.n
    mean = None if n == 0 else stats.total / n
    cv = None
    if mean is not None and n > 1 and mean > 0:
        var = max(stats.total_sq / n - mean * mean, 0.0) * n / (n - 1)
        cv = round(100.0 * math.sqrt(var) / mean, 1)
    metrics = {
        "tir_pct": _pct(n - stats.below70 - stats.above180, n), "tbr_pct": _pct(stats.below70, n),
        "tbr54_pct": _pct(stats.below54, n), "tar_pct": _pct(stats.above180, n),
        "tar250_pct": _pct(stats.above250, n), "cv_pct": cv,
    }
    met: list[str] = []
    missed: list[str] = []
    for name, (op, limit) in CONSENSUS.items():
        value = metrics[name]
        if value is None:
            continue
        ok = value > limit if op == ">" else value < limit if op == "<" else value <= limit
        (met if ok else missed).append(name)
    sufficiency = round(min(100.0, 100.0 * n / max(expected_per_day * days, 1)), 1)
    return Summary(
        patient_key=patient_key, start=stats.day, days=days, readings=n, sufficiency_pct=sufficiency,
        tir_pct=metrics["tir_pct"], tbr_pct=metrics["tbr_pct"], tbr54_pct=metrics["tbr54_pct"],
        tar_pct=metrics["tar_pct"], tar250_pct=metrics["tar250_pct"],
        mean_mgdl=None if mean is None else round(mean, 1),
        gmi_pct=None if mean is None else round(3.31 + 0.02392 * mean, 2), cv_pct=cv,
        met=tuple(met), missed=tuple(missed), sufficient=sufficiency >= SUFFICIENT_PCT,
    )


def day_of(d: date) -> str:
    return d.isoformat()
