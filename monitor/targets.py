"""Per-patient thresholds (design section 4 defaults) and the patient-config record that overrides them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson

from monitor.frozen import Frozen, quick_init
from monitor.records import SCHEMA_VERSION, RecordError, utc


@quick_init
@dataclass(frozen=True, slots=True)
class Targets(Frozen):
    """A patient's alert thresholds; every default is the consensus number of design section 4."""

    urgent_low: float = 54.0  # level 2 hypoglycaemia (Battelino et al. 2019; ADA SoC section 6)
    low: float = 70.0  # level 1 hypoglycaemia
    high: float = 180.0  # level 1 hyperglycaemia
    very_high: float = 250.0  # level 2 hyperglycaemia
    resolve_margin: float = 10.0  # a low resolves above low+10 (80), a high below high-10 (170)
    resolve_after_min: float = 15.0  # ... and only after that many minutes back in range (hysteresis)
    high_persist_min: float = 30.0  # "outside the threshold for n minutes" before a high alerts (xDrip #342)
    very_high_persist_min: float = 15.0
    rate_warn: float = 2.0  # mg/dL/min (Dexcom rise/fall alert settings)
    rate_urgent: float = 3.0
    # A rapid rise alerts alone only when its 30-minute line passes this; None (default): never, because the
    # high and very_high rules follow within 15-30 minutes and highs are not minutes-critical (alert fatigue).
    rise_alert_mgdl: float | None = None
    compression_drop: float = 4.0  # mg/dL/min into a low: likely a compression artefact, needs a confirmation
    predicted_low_min: float = 30.0  # predicted_low: < low within this many minutes
    urgent_soon_min: float = 20.0  # urgent_low_soon: < urgent_low within this many minutes
    no_data_min: float = 20.0  # an active sensor silent this long is itself an alert (Dexcom signal loss)
    hr_low: float = 40.0
    hr_high: float = 130.0
    hr_baseline: float | None = None  # resting heart rate of this patient, when the care team knows it
    hr_deviation: float = 40.0  # with a baseline: alert beyond baseline +/- this (and the absolute bounds)
    spo2_low: float = 90.0
    spo2_urgent: float = 88.0
    spo2_baseline: float | None = None  # e.g. COPD patients living at 88-92 %
    sbp_high: float = 180.0  # hypertensive crisis
    dbp_high: float = 120.0
    sbp_low: float = 90.0
    temp_high: float = 38.0
    weight_gain_kg: float = 2.0  # > 2 kg in 3 days: fluid retention, heart failure
    weight_days: float = 3.0

    def __post_init__(self) -> None:
        if not (0 < self.urgent_low <= self.low < self.high <= self.very_high):
            raise RecordError(
                f"targets must satisfy 0 < urgent_low <= low < high <= very_high, got "
                f"{self.urgent_low}, {self.low}, {self.high}, {self.very_high}"
            )
        if self.rate_warn <= 0 or self.rate_urgent < self.rate_warn:
            raise RecordError("rate thresholds must satisfy 0 < rate_warn <= rate_urgent")
        if self.no_data_min <= 0 or self.resolve_after_min < 0:
            raise RecordError("no_data_min must be positive and resolve_after_min not negative")

    @property
    def low_resolve_above(self) -> float:
        return self.low + self.resolve_margin

    @property
    def high_resolve_below(self) -> float:
        return self.high - self.resolve_margin


DEFAULT_TARGETS: Final = Targets()
_FIELDS: Final = {f.name for f in dataclasses.fields(Targets)}


def with_overrides(base: Targets, overrides: Mapping[str, Any]) -> Targets:
    """Applies named overrides to targets, refusing unknown names and non-numbers (errors are data)."""
    unknown = sorted(set(overrides) - _FIELDS)
    if unknown:
        raise RecordError(f"unknown target(s): {', '.join(unknown)}")
    clean: dict[str, float | None] = {}
    for name, value in overrides.items():
        if value is None:
            clean[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise RecordError(f"target {name}: expected a number, got {value!r}")
        clean[name] = float(value)
    return dataclasses.replace(base, **clean)  # type: ignore[arg-type]


def overrides_of(targets: Targets) -> dict[str, float | None]:
    """Only the values that differ from the defaults: what a config record needs to carry."""
    return {
        f.name: getattr(targets, f.name)
        for f in dataclasses.fields(Targets)
        if getattr(targets, f.name) != getattr(DEFAULT_TARGETS, f.name)
    }


@dataclass(frozen=True, slots=True)
class PatientConfig:
    """One patient's settings on the compacted topic vigil.patient-config.v1 (key: patient_key)."""

    patient_key: str
    targets: Targets = field(default_factory=Targets)
    model_ref: str | None = None  # forecaster registry reference; None: the AR2 baseline
    updated_at: datetime | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "patient_config",
            "schema_version": self.schema_version,
            "patient_key": self.patient_key,
            "targets": overrides_of(self.targets),
            "model_ref": self.model_ref,
            "updated_at": None if self.updated_at is None else utc(self.updated_at).isoformat(),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes) -> PatientConfig:
        try:
            d = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"not JSON: {exc}", raw) from exc
        if not isinstance(d, dict) or d.get("type") != "patient_config":
            raise RecordError("expected a patient_config record", raw)
        if d.get("schema_version") != SCHEMA_VERSION:
            raise RecordError(f"unsupported schema_version {d.get('schema_version')!r} for patient_config", raw)
        key = d.get("patient_key")
        if not isinstance(key, str) or not key:
            raise RecordError("patient_key: expected a non-empty string", raw)
        overrides = d.get("targets") or {}
        if not isinstance(overrides, dict):
            raise RecordError("targets: expected an object", raw)
        model_ref = d.get("model_ref")
        if model_ref is not None and not isinstance(model_ref, str):
            raise RecordError("model_ref: expected a string or null", raw)
        updated = d.get("updated_at")
        try:
            updated_at = None if updated is None else utc(datetime.fromisoformat(str(updated)))
            targets = with_overrides(DEFAULT_TARGETS, overrides)
        except (RecordError, ValueError) as exc:
            raise RecordError(str(exc), raw) from exc
        return cls(patient_key=key, targets=targets, model_ref=model_ref, updated_at=updated_at)
