"""Inverse of parsing: dataclasses to characteristic bytes, for round-trip tests and emulated devices."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

from device_gateway import const
from device_gateway.parsing import (
    DST_MINUTES,
    WEIGHT_UNSUCCESSFUL,
    BloodPressureMeasurement,
    CgmMeasurement,
    CgmSessionStartTime,
    GlucoseContext,
    GlucoseMeasurement,
    HeartRateMeasurement,
    Measurement,
    PlxContinuous,
    PlxSpotCheck,
    TemperatureMeasurement,
    WeightMeasurement,
    cgm_record_size,
    crc16_mcrf4xx,
)
from device_gateway.sfloat import Medfloat, encode_float, encode_sfloat


class EncodeError(ValueError):
    """A dataclass whose fields cannot be written as the characteristic (out of range, inconsistent)."""


def _u(value: int, n: int, what: str) -> bytes:
    try:
        return value.to_bytes(n, "little")
    except OverflowError as exc:
        raise EncodeError(f"{what}: {value} does not fit in uint{8 * n}") from exc


def _s(value: int, n: int, what: str) -> bytes:
    try:
        return value.to_bytes(n, "little", signed=True)
    except OverflowError as exc:
        raise EncodeError(f"{what}: {value} does not fit in sint{8 * n}") from exc


def _sf(m: Medfloat, what: str) -> bytes:
    try:
        return encode_sfloat(m).to_bytes(2, "little")
    except ValueError as exc:
        raise EncodeError(f"{what}: {exc}") from exc


def _fl(m: Medfloat, what: str) -> bytes:
    try:
        return encode_float(m).to_bytes(4, "little")
    except ValueError as exc:
        raise EncodeError(f"{what}: {exc}") from exc


def _date_time(ts: datetime, tz: tzinfo) -> bytes:
    """Date Time in the device's zone; sub-second parts are dropped (the field has whole seconds)."""
    if ts.tzinfo is None:
        raise EncodeError("naive datetime: a time zone is required")
    local = ts.astimezone(tz)
    if not 1582 <= local.year <= 9999:
        raise EncodeError(f"year {local.year} outside 1582-9999")
    return _u(local.year, 2, "year") + bytes((local.month, local.day, local.hour, local.minute, local.second))


def _nibbles(low: int, high: int, what: str) -> bytes:
    if not (0 <= low <= 15 and 0 <= high <= 15):
        raise EncodeError(f"{what}: nibbles must be 0-15, got {low} and {high}")
    return bytes((low | (high << 4),))


def _both(a: object, b: object, what: str) -> bool:
    if (a is None) != (b is None):
        raise EncodeError(f"{what}: both fields or neither")
    return a is not None


def _glucose(m: GlucoseMeasurement, tz: tzinfo) -> bytes:
    has_conc = m.concentration is not None
    if not (has_conc == (m.sample_type is not None) == (m.sample_location is not None)):
        raise EncodeError("glucose: concentration, type and sample location come together")
    if m.units not in ("kg/L", "mol/L"):
        raise EncodeError(f"glucose units {m.units!r}")
    flags = (
        (0x01 if m.time_offset is not None else 0)
        | (0x02 if has_conc else 0)
        | (0x04 if m.units == "mol/L" else 0)
        | (0x08 if m.sensor_status is not None else 0)
        | (0x10 if m.context_follows else 0)
    )
    out = bytes((flags,)) + _u(m.sequence, 2, "sequence") + _date_time(m.base_time, tz)
    if m.time_offset is not None:
        out += _s(m.time_offset, 2, "time offset")
    if m.concentration is not None and m.sample_type is not None and m.sample_location is not None:
        out += _sf(m.concentration, "concentration")
        out += _nibbles(m.sample_type, m.sample_location, "type-location")
    if m.sensor_status is not None:
        out += _u(m.sensor_status, 2, "sensor status")
    return out


def _glucose_context(m: GlucoseContext, tz: tzinfo) -> bytes:
    if m.medication_units not in ("kg", "L"):
        raise EncodeError(f"medication units {m.medication_units!r}")
    carbs = _both(m.carbohydrate_id, m.carbohydrate_kg, "carbohydrate id and amount")
    tester = _both(m.tester, m.health, "tester and health")
    exercise = _both(m.exercise_duration_s, m.exercise_intensity_pct, "exercise duration and intensity")
    medication = _both(m.medication_id, m.medication, "medication id and amount")
    flags = (
        (0x01 if carbs else 0)
        | (0x02 if m.meal is not None else 0)
        | (0x04 if tester else 0)
        | (0x08 if exercise else 0)
        | (0x10 if medication else 0)
        | (0x20 if m.medication_units == "L" else 0)
        | (0x40 if m.hba1c_pct is not None else 0)
        | (0x80 if m.extended_flags is not None else 0)
    )
    out = bytes((flags,)) + _u(m.sequence, 2, "sequence")
    if m.extended_flags is not None:
        out += _u(m.extended_flags, 1, "extended flags")
    if m.carbohydrate_id is not None and m.carbohydrate_kg is not None:
        out += _u(m.carbohydrate_id, 1, "carbohydrate id") + _sf(m.carbohydrate_kg, "carbohydrate")
    if m.meal is not None:
        out += _u(m.meal, 1, "meal")
    if m.tester is not None and m.health is not None:
        out += _nibbles(m.tester, m.health, "tester-health")
    if m.exercise_duration_s is not None and m.exercise_intensity_pct is not None:
        out += _u(m.exercise_duration_s, 2, "exercise duration")
        out += _u(m.exercise_intensity_pct, 1, "exercise intensity")
    if m.medication_id is not None and m.medication is not None:
        out += _u(m.medication_id, 1, "medication id") + _sf(m.medication, "medication")
    if m.hba1c_pct is not None:
        out += _sf(m.hba1c_pct, "HbA1c")
    return out


def _cgm(m: CgmMeasurement, tz: tzinfo) -> bytes:
    flags = (
        (0x01 if m.trend is not None else 0)
        | (0x02 if m.quality is not None else 0)
        | (0x20 if m.warning_octet is not None else 0)
        | (0x40 if m.cal_temp_octet is not None else 0)
        | (0x80 if m.status_octet is not None else 0)
    )
    out = bytes((cgm_record_size(flags, m.e2e_crc), flags)) + _sf(m.glucose, "glucose")
    out += _u(m.time_offset, 2, "time offset")
    octets = ((m.status_octet, "status"), (m.cal_temp_octet, "cal/temp"), (m.warning_octet, "warning"))
    for octet, what in octets:
        if octet is not None:
            out += _u(octet, 1, f"{what} octet")
    if m.trend is not None:
        out += _sf(m.trend, "trend")
    if m.quality is not None:
        out += _sf(m.quality, "quality")
    if m.e2e_crc:
        out += _u(crc16_mcrf4xx(out), 2, "CRC")
    return out


def _cgm_session_start(m: CgmSessionStartTime, tz: tzinfo) -> bytes:
    if m.time_zone_quarter_hours is None:
        local = _date_time(m.start, tz)
    else:
        dst = DST_MINUTES.get(m.dst_code if m.dst_code is not None else 0)
        if dst is None:
            raise EncodeError(f"DST code {m.dst_code}")
        shift = timedelta(minutes=15 * m.time_zone_quarter_hours + dst)
        local = _date_time(m.start + shift, UTC)
    tz_raw = -128 if m.time_zone_quarter_hours is None else m.time_zone_quarter_hours
    out = local + _s(tz_raw, 1, "time zone") + _u(255 if m.dst_code is None else m.dst_code, 1, "DST")
    return out + (_u(crc16_mcrf4xx(out), 2, "CRC") if m.e2e_crc else b"")


def _heart_rate(m: HeartRateMeasurement, tz: tzinfo) -> bytes:
    contact = 0 if m.sensor_contact is None else (0x06 if m.sensor_contact else 0x04)
    flags = (
        (0x01 if m.uint16_format else 0)
        | contact
        | (0x08 if m.energy_expended_kj is not None else 0)
        | (0x10 if m.rr_intervals else 0)
    )
    out = bytes((flags,)) + _u(m.bpm, 2 if m.uint16_format else 1, "heart rate")
    if m.energy_expended_kj is not None:
        out += _u(m.energy_expended_kj, 2, "energy expended")
    return out + b"".join(_u(rr, 2, "RR interval") for rr in m.rr_intervals)


def _blood_pressure(m: BloodPressureMeasurement, tz: tzinfo) -> bytes:
    if m.units not in ("mmHg", "kPa"):
        raise EncodeError(f"blood pressure units {m.units!r}")
    flags = (
        (0x01 if m.units == "kPa" else 0)
        | (0x02 if m.timestamp is not None else 0)
        | (0x04 if m.pulse_rate is not None else 0)
        | (0x08 if m.user_id is not None else 0)
        | (0x10 if m.measurement_status is not None else 0)
    )
    out = bytes((flags,)) + _sf(m.systolic, "systolic") + _sf(m.diastolic, "diastolic")
    out += _sf(m.mean_arterial, "mean arterial")
    if m.timestamp is not None:
        out += _date_time(m.timestamp, tz)
    if m.pulse_rate is not None:
        out += _sf(m.pulse_rate, "pulse rate")
    if m.user_id is not None:
        out += _u(m.user_id, 1, "user id")
    if m.measurement_status is not None:
        out += _u(m.measurement_status, 2, "measurement status")
    return out


def _plx_spot(m: PlxSpotCheck, tz: tzinfo) -> bytes:
    flags = (
        (0x01 if m.timestamp is not None else 0)
        | (0x02 if m.measurement_status is not None else 0)
        | (0x04 if m.device_sensor_status is not None else 0)
        | (0x08 if m.pulse_amplitude_index is not None else 0)
        | (0x10 if m.device_clock_not_set else 0)
    )
    out = bytes((flags,)) + _sf(m.spo2, "SpO2") + _sf(m.pulse_rate, "pulse rate")
    if m.timestamp is not None:
        out += _date_time(m.timestamp, tz)
    return out + _plx_tail(m)


def _plx_tail(m: PlxSpotCheck | PlxContinuous) -> bytes:
    """The optional fields both PLX characteristics end with: measurement status, sensor status, PAI."""
    out = b""
    if m.measurement_status is not None:
        out += _u(m.measurement_status, 2, "measurement status")
    if m.device_sensor_status is not None:
        out += _u(m.device_sensor_status, 3, "device and sensor status")
    if m.pulse_amplitude_index is not None:
        out += _sf(m.pulse_amplitude_index, "pulse amplitude index")
    return out


def _plx_continuous(m: PlxContinuous, tz: tzinfo) -> bytes:
    fast = _both(m.spo2_fast, m.pulse_rate_fast, "SpO2PR-Fast")
    slow = _both(m.spo2_slow, m.pulse_rate_slow, "SpO2PR-Slow")
    flags = (
        (0x01 if fast else 0)
        | (0x02 if slow else 0)
        | (0x04 if m.measurement_status is not None else 0)
        | (0x08 if m.device_sensor_status is not None else 0)
        | (0x10 if m.pulse_amplitude_index is not None else 0)
    )
    out = bytes((flags,)) + _sf(m.spo2, "SpO2") + _sf(m.pulse_rate, "pulse rate")
    if m.spo2_fast is not None and m.pulse_rate_fast is not None:
        out += _sf(m.spo2_fast, "SpO2 fast") + _sf(m.pulse_rate_fast, "pulse rate fast")
    if m.spo2_slow is not None and m.pulse_rate_slow is not None:
        out += _sf(m.spo2_slow, "SpO2 slow") + _sf(m.pulse_rate_slow, "pulse rate slow")
    return out + _plx_tail(m)


def _temperature(m: TemperatureMeasurement, tz: tzinfo) -> bytes:
    if m.units not in ("Cel", "degF"):
        raise EncodeError(f"temperature units {m.units!r}")
    flags = (
        (0x01 if m.units == "degF" else 0)
        | (0x02 if m.timestamp is not None else 0)
        | (0x04 if m.temperature_type is not None else 0)
    )
    out = bytes((flags,)) + _fl(m.temperature, "temperature")
    if m.timestamp is not None:
        out += _date_time(m.timestamp, tz)
    if m.temperature_type is not None:
        out += _u(m.temperature_type, 1, "temperature type")
    return out


def _weight(m: WeightMeasurement, tz: tzinfo) -> bytes:
    if _both(m.bmi, m.height, "BMI and height") and m.bmi is not None and m.height is not None:
        bmi_height: bytes | None = _u(round(m.bmi * 10), 2, "BMI") + _u(
            round(m.height * (10 if m.imperial else 1000)), 2, "height"
        )
    else:
        bmi_height = None
    flags = (
        (0x01 if m.imperial else 0)
        | (0x02 if m.timestamp is not None else 0)
        | (0x04 if m.user_id is not None else 0)
        | (0x08 if bmi_height is not None else 0)
    )
    if m.weight is None:
        raw = WEIGHT_UNSUCCESSFUL
    else:
        raw = round(m.weight * (100 if m.imperial else 200))
        if raw == WEIGHT_UNSUCCESSFUL:
            raise EncodeError("weight: 0xFFFF is reserved for 'measurement unsuccessful'")
    out = bytes((flags,)) + _u(raw, 2, "weight")
    if m.timestamp is not None:
        out += _date_time(m.timestamp, tz)
    if m.user_id is not None:
        out += _u(m.user_id, 1, "user id")
    return out + (bmi_height or b"")


_ENCODERS: Final[Mapping[type, tuple[int, Callable[[Any, tzinfo], bytes]]]] = {
    GlucoseMeasurement: (const.GLUCOSE_MEASUREMENT, _glucose),
    GlucoseContext: (const.GLUCOSE_MEASUREMENT_CONTEXT, _glucose_context),
    CgmMeasurement: (const.CGM_MEASUREMENT, _cgm),
    CgmSessionStartTime: (const.CGM_SESSION_START_TIME, _cgm_session_start),
    HeartRateMeasurement: (const.HEART_RATE_MEASUREMENT, _heart_rate),
    BloodPressureMeasurement: (const.BLOOD_PRESSURE_MEASUREMENT, _blood_pressure),
    PlxSpotCheck: (const.PLX_SPOT_CHECK_MEASUREMENT, _plx_spot),
    PlxContinuous: (const.PLX_CONTINUOUS_MEASUREMENT, _plx_continuous),
    TemperatureMeasurement: (const.TEMPERATURE_MEASUREMENT, _temperature),
    WeightMeasurement: (const.WEIGHT_MEASUREMENT, _weight),
}


def char_uuid_for(measurement: Measurement) -> int:
    """The characteristic a measurement travels on (e.g. GlucoseMeasurement -> 0x2A18)."""
    return _ENCODERS[type(measurement)][0]


def encode(measurement: Measurement, *, tz: tzinfo = UTC) -> bytes:
    """Encodes one measurement as its characteristic value; times are written in the device zone `tz`."""
    entry = _ENCODERS.get(type(measurement))
    if entry is None:
        raise EncodeError(f"no encoder for {type(measurement).__name__}")
    return entry[1](measurement, tz)


def encode_cgm_records(records: Iterable[CgmMeasurement]) -> bytes:
    """Packs several CGM records into one notification value (each keeps its own size byte)."""
    return b"".join(_cgm(r, UTC) for r in records)
