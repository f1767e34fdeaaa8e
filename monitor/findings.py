"""What a rule concludes about one reading (a Finding), and how levels rank inside each alert family."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from monitor.frozen import Frozen, quick_init
from monitor.records import Severity

RULES_VERSION: Final = "rules-2"

# Families are the unit of an episode: a worse level in the same family escalates, never opens a second one.
LEVEL_RANK: Final[dict[str, dict[str, int]]] = {
    "low": {"predicted_low": 1, "low": 2, "urgent_low_soon": 3, "urgent_low": 4},
    "high": {"high": 1, "very_high": 2},
    "fall": {"rapid_fall": 1, "rapid_fall_urgent": 2},
    "rise": {"rapid_rise": 1, "rapid_rise_urgent": 2},
    "no_data": {"no_data": 1},
    "vitals_heart_rate": {"vitals_heart_rate": 1},
    "vitals_spo2": {"vitals_spo2": 1, "vitals_spo2_urgent": 2},
    "vitals_blood_pressure": {"vitals_blood_pressure_low": 1, "vitals_blood_pressure": 2},
    "vitals_temperature": {"vitals_temperature": 1},
    "vitals_weight": {"vitals_weight": 1},
}
GLUCOSE_FAMILIES: Final = frozenset({"low", "high", "fall", "rise"})


def rank(family: str, level: str) -> int:
    return LEVEL_RANK.get(family, {}).get(level, 0)


@quick_init
@dataclass(frozen=True, slots=True)
class Finding(Frozen):
    """One rule's verdict on one reading: family and level, why, and on which values and model."""

    family: str
    level: str
    kind: str  # the alert kind on vigil.alerts.v1
    severity: Severity
    rule: str
    reason: str  # one sentence a nurse can read in an SMS
    reading_ids: tuple[str, ...]
    measured_at: datetime
    value: float | None
    thresholds: tuple[tuple[str, float], ...] = ()
    values: tuple[tuple[str, float], ...] = ()
    trend_mgdl_per_min: float | None = None
    forecast_mgdl: float | None = None
    model_name: str = "rules"
    model_version: str = RULES_VERSION
