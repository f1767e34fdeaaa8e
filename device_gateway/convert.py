"""Decoded measurements to contract Readings: contract units, deterministic ids, specials kept as reasons.

Choices, so that every caller gets the same readings for the same bytes:
- Times: timestamps decoded from the device (tz already applied by parsing) are the event time; a measurement
  without one (heart rate, PLX without time stamp) is placed at `received_at`.
- CGM records are placed at session start + time offset. The session start comes from the `session_start`
  argument or from a CgmSessionStartTime (0x2AAA) in the same batch. Without either, a DecodeError is raised:
  guessing (received_at minus the offset is wrong, offsets count from the session start) would make reading
  ids unstable across resends and defeat de-duplication. The gateway reads 0x2AAA before subscribing.
- A Glucose Measurement Context (0x2A34) has no time of its own: it takes the time of the Glucose Measurement
  with the same sequence number in the batch (the gateway passes them together when "context follows" is set),
  else `received_at` with the flag "time_from_received_at".
- Medication is recorded only, never advised on. Insulin given in litres becomes units for U-100
  (1 mL = 100 U); a mass (kg) cannot be converted without the formulation, so its value is None with
  value_status "unit_not_convertible" and the original kept.
- Exercise, tester, health and HbA1c have no reading kind in contract v1 and are not emitted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from device_gateway import const
from device_gateway.encoding import encode
from device_gateway.parsing import (
    BP_PULSE_RANGE,
    BP_STATUS_BITS,
    CARBOHYDRATE_IDS,
    CGM_STATUS_BITS,
    GLUCOSE_SAMPLE_LOCATIONS,
    GLUCOSE_SAMPLE_TYPES,
    GLUCOSE_STATUS_BITS,
    MEALS,
    MEDICATION_IDS,
    PLX_DEVICE_STATUS_BITS,
    PLX_MEASUREMENT_STATUS_BITS,
    TEMPERATURE_TYPES,
    BloodPressureMeasurement,
    CgmMeasurement,
    CgmSessionStartTime,
    DecodeError,
    GlucoseContext,
    GlucoseMeasurement,
    HeartRateMeasurement,
    Measurement,
    PlxContinuous,
    PlxSpotCheck,
    TemperatureMeasurement,
    WeightMeasurement,
)
from device_gateway.sfloat import Medfloat
from monitor.records import MGDL_PER_MMOLL, Reading, ReadingKind, Source, reading_id_for, utc

MMHG_PER_KPA: Final = 7.50062
KG_PER_LB: Final = 0.45359237
M_PER_IN: Final = 0.0254
INSULIN_UNITS_PER_ML: Final = 100  # U-100
INSULIN_TYPES: Final[Mapping[int, str]] = {1: "rapid", 2: "short", 3: "intermediate", 4: "long", 5: "mixed"}


def bit_names(value: int | None, names: Mapping[int, str], prefix: str = "status_bit") -> tuple[str, ...]:
    """Names of the set bits, in bit order; an undefined bit becomes '<prefix>_<n>' so nothing is hidden."""
    if not value:
        return ()
    return tuple(names.get(bit, f"{prefix}_{bit}") for bit in range(value.bit_length()) if value >> bit & 1)


def _shift(mf: Medfloat, power: int) -> float | None:
    """The value times 10**power, computed on the decimal pair so 95e-5 kg/L gives exactly 95.0 mg/dL."""
    if mf.special is not None:
        return None
    return Medfloat(mf.mantissa, mf.exponent + power).value


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else round(value * factor, 4)


def _status(mf: Medfloat | None) -> str | None:
    return None if mf is None or mf.special is None else mf.special.value


class _Batch:
    """Per-call context: identity, arrival time and what one measurement in the batch tells another."""

    def __init__(
        self,
        *,
        patient_key: str,
        device_id: str,
        received_at: datetime,
        session_start: datetime | None,
        source: Source,
        measurements: tuple[Measurement, ...],
    ) -> None:
        self.patient_key = patient_key
        self.device_id = device_id
        self.received_at = utc(received_at)
        self.source = source
        starts = [m.start for m in measurements if isinstance(m, CgmSessionStartTime)]
        self.session_start = (
            utc(session_start) if session_start is not None else (starts[-1] if starts else None)
        )
        self.glucose_times = {
            m.sequence: m.measured_at for m in measurements if isinstance(m, GlucoseMeasurement)
        }

    def reading(
        self,
        kind: ReadingKind,
        value: float | None,
        unit: str,
        measured_at: datetime,
        *,
        value_status: str | None = None,
        sequence: int | None = None,
        **extra: Any,
    ) -> Reading:
        if value is None and value_status is None:
            value_status = "not_reported"
        return Reading(
            reading_id=reading_id_for(self.device_id, kind.value, sequence, measured_at),
            patient_key=self.patient_key,
            device_id=self.device_id,
            kind=kind,
            value=value,
            unit=unit,
            measured_at=measured_at,
            received_at=self.received_at,
            source=self.source,
            value_status=value_status,
            sequence=sequence,
            **extra,
        )


def _components(**values: Medfloat | float | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, v in values.items():
        number = v.value if isinstance(v, Medfloat) else v
        if number is not None:
            out[name] = number
    return out


def _special_flags(**values: Medfloat | None) -> tuple[str, ...]:
    return tuple(f"{name}_{v.special.value}" for name, v in values.items() if v is not None and v.special)


def _glucose(m: GlucoseMeasurement, b: _Batch) -> list[Reading]:
    original = None if m.concentration is None else m.concentration.value
    if m.concentration is None:
        value = None
    elif m.units == "kg/L":
        value = _shift(m.concentration, 5)  # 1 kg/L = 100000 mg/dL
    else:
        value = _scaled(_shift(m.concentration, 3), MGDL_PER_MMOLL)  # mol/L -> mmol/L -> mg/dL
    context = None
    if m.sample_type is not None and m.sample_location is not None:
        sample = GLUCOSE_SAMPLE_TYPES.get(m.sample_type, f"type_{m.sample_type}")
        location = GLUCOSE_SAMPLE_LOCATIONS.get(m.sample_location, f"location_{m.sample_location}")
        context = f"sample={sample};location={location}"
    return [
        b.reading(
            ReadingKind.GLUCOSE,
            value,
            "mg/dL",
            m.measured_at,
            value_status=_status(m.concentration),
            sequence=m.sequence,
            original_value=original,
            original_unit=None if m.concentration is None else m.units,
            flags=bit_names(m.sensor_status, GLUCOSE_STATUS_BITS),
            context=context,
        )
    ]


def _glucose_context(m: GlucoseContext, b: _Batch) -> list[Reading]:
    at = b.glucose_times.get(m.sequence)
    time_flags: tuple[str, ...] = () if at is not None else ("time_from_received_at",)
    at = at or b.received_at
    out: list[Reading] = []
    if m.carbohydrate_kg is not None:
        parts = [f"carbohydrate={CARBOHYDRATE_IDS.get(m.carbohydrate_id or 0, f'id_{m.carbohydrate_id}')}"]
        if m.meal is not None:
            parts.append(f"meal={MEALS.get(m.meal, f'meal_{m.meal}')}")
        out.append(
            b.reading(
                ReadingKind.CARBS,
                _shift(m.carbohydrate_kg, 3),  # kg -> g
                "g",
                at,
                value_status=_status(m.carbohydrate_kg),
                sequence=m.sequence,
                original_value=m.carbohydrate_kg.value,
                original_unit="kg",
                flags=time_flags,
                context=";".join(parts),
            )
        )
    if m.medication is not None:
        if m.medication_units == "L":
            value = _shift(m.medication, 3 + 2)  # L -> mL -> U at U-100
            status = _status(m.medication)
        else:
            value, status = None, _status(m.medication) or "unit_not_convertible"
        insulin = INSULIN_TYPES.get(m.medication_id or 0)
        flags = time_flags if insulin else (*time_flags, "not_insulin")
        label = insulin or MEDICATION_IDS.get(m.medication_id or 0, f"medication_{m.medication_id}")
        out.append(
            b.reading(
                ReadingKind.INSULIN,
                value,
                "U",
                at,
                value_status=status,
                sequence=m.sequence,
                original_value=m.medication.value,
                original_unit=m.medication_units,
                flags=flags,
                context=label,
            )
        )
    return out


def _cgm(m: CgmMeasurement, b: _Batch) -> list[Reading]:
    if b.session_start is None:
        raise DecodeError(
            const.CGM_MEASUREMENT,
            encode(m),
            "CGM record needs the session start time (0x2AAA) to be placed in time; none was given",
        )
    return [
        b.reading(
            ReadingKind.CGM,
            m.glucose.value,
            "mg/dL",
            b.session_start + timedelta(minutes=m.time_offset),
            value_status=_status(m.glucose),
            original_value=m.glucose.value,
            original_unit="mg/dL",
            components=_components(trend_mgdl_per_min=m.trend, quality_pct=m.quality),
            flags=bit_names(m.sensor_status, CGM_STATUS_BITS)
            + _special_flags(trend=m.trend, quality=m.quality),
        )
    ]


def _heart_rate(m: HeartRateMeasurement, b: _Batch) -> list[Reading]:
    rr_ms = [rr * 1000 / 1024 for rr in m.rr_intervals]
    components: dict[str, float] = {}
    if m.energy_expended_kj is not None:
        components["energy_expended_kj"] = float(m.energy_expended_kj)
    if rr_ms:
        components["rr_mean_ms"] = round(sum(rr_ms) / len(rr_ms), 3)
        components["rr_last_ms"] = round(rr_ms[-1], 3)
        components["rr_count"] = float(len(rr_ms))
    flags = ("sensor_contact_lost",) if m.sensor_contact is False else ()
    return [
        b.reading(
            ReadingKind.HEART_RATE, float(m.bpm), "bpm", b.received_at, components=components, flags=flags
        )
    ]


def _blood_pressure(m: BloodPressureMeasurement, b: _Batch) -> list[Reading]:
    factor = MMHG_PER_KPA if m.units == "kPa" else 1.0

    def mmhg(v: Medfloat) -> float | None:
        return _scaled(v.value, factor) if m.units == "kPa" else v.value

    status = m.measurement_status or 0
    flags = bit_names(status & ~0x18, BP_STATUS_BITS)
    pulse_range = BP_PULSE_RANGE.get((status >> 3) & 0x03)
    if pulse_range:
        flags += (pulse_range,)
    flags += _special_flags(diastolic=m.diastolic, mean_arterial=m.mean_arterial, pulse_rate=m.pulse_rate)
    components = _components(
        systolic=mmhg(m.systolic),
        diastolic=mmhg(m.diastolic),
        mean_arterial=mmhg(m.mean_arterial),
        pulse_rate=m.pulse_rate,
    )
    return [
        b.reading(
            ReadingKind.BLOOD_PRESSURE,
            mmhg(m.systolic),
            "mmHg",
            m.timestamp or b.received_at,
            value_status=_status(m.systolic),
            original_value=m.systolic.value,
            original_unit=m.units,
            components=components,
            flags=flags,
            context=None if m.user_id is None else f"user_id={m.user_id}",
        )
    ]


def _plx_flags(measurement_status: int | None, device_status: int | None) -> tuple[str, ...]:
    return bit_names(measurement_status, PLX_MEASUREMENT_STATUS_BITS) + bit_names(
        device_status, PLX_DEVICE_STATUS_BITS, "device_status_bit"
    )


def _plx_spot(m: PlxSpotCheck, b: _Batch) -> list[Reading]:
    flags = _plx_flags(m.measurement_status, m.device_sensor_status)
    flags += _special_flags(pulse_rate=m.pulse_rate)
    use_device_time = m.timestamp is not None and not m.device_clock_not_set
    if m.device_clock_not_set:
        flags += ("device_clock_not_set",)
    return [
        b.reading(
            ReadingKind.SPO2,
            m.spo2.value,
            "%",
            m.timestamp if use_device_time and m.timestamp else b.received_at,
            value_status=_status(m.spo2),
            components=_components(pulse_rate=m.pulse_rate, pulse_amplitude_index=m.pulse_amplitude_index),
            flags=flags,
        )
    ]


def _plx_continuous(m: PlxContinuous, b: _Batch) -> list[Reading]:
    flags = _plx_flags(m.measurement_status, m.device_sensor_status)
    flags += _special_flags(pulse_rate=m.pulse_rate)
    components = _components(
        pulse_rate=m.pulse_rate,
        spo2_fast=m.spo2_fast,
        pulse_rate_fast=m.pulse_rate_fast,
        spo2_slow=m.spo2_slow,
        pulse_rate_slow=m.pulse_rate_slow,
        pulse_amplitude_index=m.pulse_amplitude_index,
    )
    return [
        b.reading(
            ReadingKind.SPO2,
            m.spo2.value,
            "%",
            b.received_at,
            value_status=_status(m.spo2),
            components=components,
            flags=flags,
        )
    ]


def _temperature(m: TemperatureMeasurement, b: _Batch) -> list[Reading]:
    raw = m.temperature.value
    value = raw if m.units == "Cel" or raw is None else round((raw - 32) * 5 / 9, 4)
    return [
        b.reading(
            ReadingKind.TEMPERATURE,
            value,
            "Cel",
            m.timestamp or b.received_at,
            value_status=_status(m.temperature),
            original_value=raw,
            original_unit=m.units,
            context=None
            if m.temperature_type is None
            else TEMPERATURE_TYPES.get(m.temperature_type, f"type_{m.temperature_type}"),
        )
    ]


def _weight(m: WeightMeasurement, b: _Batch) -> list[Reading]:
    value = m.weight if not m.imperial else _scaled(m.weight, KG_PER_LB)
    height_m = m.height if not m.imperial else _scaled(m.height, M_PER_IN)
    return [
        b.reading(
            ReadingKind.WEIGHT,
            value,
            "kg",
            m.timestamp or b.received_at,
            value_status=None if m.weight is not None else "measurement_unsuccessful",
            original_value=m.weight,
            original_unit="lb" if m.imperial else "kg",
            components=_components(bmi=m.bmi, height_m=height_m),
            context=None if m.user_id is None else f"user_id={m.user_id}",
        )
    ]


def _nothing(m: Any, b: _Batch) -> list[Reading]:
    return []


_CONVERTERS: Final[Mapping[type, Callable[[Any, _Batch], list[Reading]]]] = {
    GlucoseMeasurement: _glucose,
    GlucoseContext: _glucose_context,
    CgmMeasurement: _cgm,
    CgmSessionStartTime: _nothing,
    HeartRateMeasurement: _heart_rate,
    BloodPressureMeasurement: _blood_pressure,
    PlxSpotCheck: _plx_spot,
    PlxContinuous: _plx_continuous,
    TemperatureMeasurement: _temperature,
    WeightMeasurement: _weight,
}


def to_readings(
    measurements: Iterable[Measurement],
    *,
    patient_key: str,
    device_id: str,
    received_at: datetime,
    session_start: datetime | None = None,
    source: Source = Source.BLE,
) -> list[Reading]:
    """Normalizes decoded measurements to contract Readings (see the module docstring for the rules)."""
    batch_items = tuple(measurements)
    batch = _Batch(
        patient_key=patient_key,
        device_id=device_id,
        received_at=received_at,
        session_start=session_start,
        source=source,
        measurements=batch_items,
    )
    out: list[Reading] = []
    for m in batch_items:
        out.extend(_CONVERTERS[type(m)](m, batch))
    return out
