"""Pure, table-driven decoders of the Bluetooth SIG health-profile characteristics (GATT Spec Supplement).

Nothing here does I/O: bytes in, frozen dataclasses out, or one DecodeError that the gateway dead-letters.

Times: the spec's Date Time field (year, month, day, hours, minutes, seconds) carries no zone. It is read
as device local time in the zone the caller passes (`tz`, default UTC, i.e. device clocks are assumed to be
set to UTC) and converted to a timezone-aware UTC datetime. A field of 0 ("not known") in a date is refused,
because a reading vigil cannot place in time is not usable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from device_gateway import const
from device_gateway.sfloat import Medfloat, decode_float, decode_sfloat


class DecodeError(ValueError):
    """The one error a decoder raises: carries the characteristic, the raw bytes in hex and why."""

    def __init__(self, char_uuid: int, raw: bytes | str, reason: str) -> None:
        self.char_uuid = char_uuid
        self.raw_hex = raw if isinstance(raw, str) else raw.hex()
        self.reason = reason
        super().__init__(f"char {char_uuid:#06x}: {reason} (raw {self.raw_hex or '<empty>'})")


class _Bad(Exception):  # noqa: N818
    """Internal: a parser's complaint, turned into a DecodeError with the context by decode()."""


# ---------------------------------------------------------------- measurements


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """Glucose Measurement 0x2A18. measured_at = base_time + time_offset minutes."""

    sequence: int
    base_time: datetime
    time_offset: int | None = None  # minutes, sint16
    concentration: Medfloat | None = None
    units: str = "kg/L"  # "kg/L" (flag bit 2 clear) or "mol/L"
    sample_type: int | None = None  # low nibble; see GLUCOSE_SAMPLE_TYPES
    sample_location: int | None = None  # high nibble; see GLUCOSE_SAMPLE_LOCATIONS
    sensor_status: int | None = None  # uint16 annunciation bits; see GLUCOSE_STATUS_BITS
    context_follows: bool = False

    @property
    def measured_at(self) -> datetime:
        return self.base_time + timedelta(minutes=self.time_offset or 0)


@dataclass(frozen=True, slots=True)
class GlucoseContext:
    """Glucose Measurement Context 0x2A34: carbohydrate, meal, tester, exercise, medication, HbA1c."""

    sequence: int
    extended_flags: int | None = None
    carbohydrate_id: int | None = None  # see CARBOHYDRATE_IDS
    carbohydrate_kg: Medfloat | None = None
    meal: int | None = None  # see MEALS
    tester: int | None = None  # low nibble
    health: int | None = None  # high nibble
    exercise_duration_s: int | None = None  # 65535 means overrun
    exercise_intensity_pct: int | None = None
    medication_id: int | None = None  # see MEDICATION_IDS
    medication: Medfloat | None = None  # in medication_units
    medication_units: str = "kg"  # "kg" (flag bit 5 clear) or "L"
    hba1c_pct: Medfloat | None = None


@dataclass(frozen=True, slots=True)
class CgmMeasurement:
    """One record of CGM Measurement 0x2AA7 (mg/dL, minutes since the session start)."""

    glucose: Medfloat  # mg/dL
    time_offset: int  # minutes since CGM Session Start Time, uint16
    status_octet: int | None = None  # annunciation bits 0-7
    cal_temp_octet: int | None = None  # bits 8-15
    warning_octet: int | None = None  # bits 16-23
    trend: Medfloat | None = None  # mg/dL/min
    quality: Medfloat | None = None  # %
    e2e_crc: bool = False  # the record carried a (verified) E2E-CRC

    @property
    def sensor_status(self) -> int | None:
        """The 24-bit annunciation with absent octets as 0, or None when no octet was sent."""
        octets = (self.status_octet, self.cal_temp_octet, self.warning_octet)
        if all(o is None for o in octets):
            return None
        return sum((o or 0) << (8 * i) for i, o in enumerate(octets))


@dataclass(frozen=True, slots=True)
class CgmSessionStartTime:
    """CGM Session Start Time 0x2AAA, already shifted to UTC with the zone and DST the sensor reports."""

    start: datetime  # UTC
    time_zone_quarter_hours: int | None = None  # -48..56; None when the sensor says unknown (-128)
    dst_code: int | None = None  # 0, 2, 4, 8; None when unknown (255)
    e2e_crc: bool = False


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """Heart Rate Measurement 0x2A37. rr_intervals are raw, in 1/1024 s."""

    bpm: int
    uint16_format: bool = False
    sensor_contact: bool | None = None  # None: the sensor-contact feature is not supported
    energy_expended_kj: int | None = None
    rr_intervals: tuple[int, ...] = ()

    @property
    def rr_seconds(self) -> tuple[float, ...]:
        return tuple(rr / 1024 for rr in self.rr_intervals)


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """Blood Pressure Measurement 0x2A35."""

    systolic: Medfloat
    diastolic: Medfloat
    mean_arterial: Medfloat
    units: str = "mmHg"  # "mmHg" (flag bit 0 clear) or "kPa"
    timestamp: datetime | None = None
    pulse_rate: Medfloat | None = None  # beats per minute
    user_id: int | None = None  # 255: unknown user
    measurement_status: int | None = None  # uint16; see BP_STATUS_BITS


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """PLX Spot-check Measurement 0x2A5E."""

    spo2: Medfloat  # %
    pulse_rate: Medfloat  # bpm
    timestamp: datetime | None = None
    measurement_status: int | None = None  # uint16; see PLX_MEASUREMENT_STATUS_BITS
    device_sensor_status: int | None = None  # uint24; see PLX_DEVICE_STATUS_BITS
    pulse_amplitude_index: Medfloat | None = None  # %
    device_clock_not_set: bool = False


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """PLX Continuous Measurement 0x2A5F (normal, fast and slow averaging)."""

    spo2: Medfloat
    pulse_rate: Medfloat
    spo2_fast: Medfloat | None = None
    pulse_rate_fast: Medfloat | None = None
    spo2_slow: Medfloat | None = None
    pulse_rate_slow: Medfloat | None = None
    measurement_status: int | None = None
    device_sensor_status: int | None = None
    pulse_amplitude_index: Medfloat | None = None


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """Temperature Measurement 0x2A1C (32-bit FLOAT)."""

    temperature: Medfloat
    units: str = "Cel"  # "Cel" (flag bit 0 clear) or "degF"
    timestamp: datetime | None = None
    temperature_type: int | None = None  # see TEMPERATURE_TYPES


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """Weight Measurement 0x2A9D. SI: kg (0.005) and m (0.001); imperial: lb (0.01) and in (0.1)."""

    weight: float | None  # None: "measurement unsuccessful" (0xFFFF)
    imperial: bool = False
    timestamp: datetime | None = None
    user_id: int | None = None
    bmi: float | None = None  # kg/m2, resolution 0.1
    height: float | None = None  # m or in


Measurement = (
    GlucoseMeasurement
    | GlucoseContext
    | CgmMeasurement
    | CgmSessionStartTime
    | HeartRateMeasurement
    | BloodPressureMeasurement
    | PlxSpotCheck
    | PlxContinuous
    | TemperatureMeasurement
    | WeightMeasurement
)

# ---------------------------------------------------------------- code tables (names used in flags/context)

GLUCOSE_SAMPLE_TYPES: Final[Mapping[int, str]] = {
    1: "capillary_whole_blood",
    2: "capillary_plasma",
    3: "venous_whole_blood",
    4: "venous_plasma",
    5: "arterial_whole_blood",
    6: "arterial_plasma",
    7: "undetermined_whole_blood",
    8: "undetermined_plasma",
    9: "interstitial_fluid",
    10: "control_solution",
}
GLUCOSE_SAMPLE_LOCATIONS: Final[Mapping[int, str]] = {
    1: "finger",
    2: "alternate_site_test",
    3: "earlobe",
    4: "control_solution",
    15: "location_not_available",
}
GLUCOSE_STATUS_BITS: Final[Mapping[int, str]] = {
    0: "device_battery_low",
    1: "sensor_malfunction",
    2: "sample_size_insufficient",
    3: "strip_insertion_error",
    4: "strip_type_incorrect",
    5: "result_above_device_range",
    6: "result_below_device_range",
    7: "sensor_temperature_too_high",
    8: "sensor_temperature_too_low",
    9: "strip_pulled_too_soon",
    10: "general_device_fault",
    11: "time_fault",
}
CGM_STATUS_BITS: Final[Mapping[int, str]] = {
    0: "session_stopped",
    1: "device_battery_low",
    2: "sensor_type_incorrect",
    3: "sensor_malfunction",
    4: "device_specific_alert",
    5: "general_device_fault",
    8: "time_sync_required",
    9: "calibration_not_allowed",
    10: "calibration_recommended",
    11: "calibration_required",
    12: "sensor_temperature_too_high",
    13: "sensor_temperature_too_low",
    16: "below_patient_low",
    17: "above_patient_high",
    18: "below_hypo_level",
    19: "above_hyper_level",
    20: "rate_of_decrease_exceeded",
    21: "rate_of_increase_exceeded",
    22: "result_below_device_range",
    23: "result_above_device_range",
}
CARBOHYDRATE_IDS: Final[Mapping[int, str]] = {
    1: "breakfast",
    2: "lunch",
    3: "dinner",
    4: "snack",
    5: "drink",
    6: "supper",
    7: "brunch",
}
MEALS: Final[Mapping[int, str]] = {
    1: "preprandial",
    2: "postprandial",
    3: "fasting",
    4: "casual",
    5: "bedtime",
}
TESTERS: Final[Mapping[int, str]] = {
    1: "self",
    2: "health_care_professional",
    3: "lab_test",
    15: "not_available",
}
HEALTH: Final[Mapping[int, str]] = {
    1: "minor_health_issues",
    2: "major_health_issues",
    3: "during_menses",
    4: "under_stress",
    5: "no_health_issues",
    15: "not_available",
}
MEDICATION_IDS: Final[Mapping[int, str]] = {
    1: "rapid_acting_insulin",
    2: "short_acting_insulin",
    3: "intermediate_acting_insulin",
    4: "long_acting_insulin",
    5: "pre_mixed_insulin",
}
BP_STATUS_BITS: Final[Mapping[int, str]] = {
    0: "body_movement",
    1: "cuff_too_loose",
    2: "irregular_pulse",
    5: "improper_position",
}
# Bits 3-4 of the BP status are a 2-bit pulse-rate range field.
BP_PULSE_RANGE: Final[Mapping[int, str]] = {1: "pulse_rate_above_range", 2: "pulse_rate_below_range"}
PLX_MEASUREMENT_STATUS_BITS: Final[Mapping[int, str]] = {
    5: "measurement_ongoing",
    6: "early_estimated_data",
    7: "validated_data",
    8: "fully_qualified_data",
    9: "data_from_storage",
    10: "data_for_demonstration",
    11: "data_for_testing",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable_measurement",
    15: "invalid_measurement",
}
PLX_DEVICE_STATUS_BITS: Final[Mapping[int, str]] = {
    0: "extended_display_update_ongoing",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "inadequate_signal",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "nonpulsatile_signal",
    8: "questionable_pulse",
    9: "signal_analysis_ongoing",
    10: "sensor_interference",
    11: "sensor_unconnected_to_user",
    12: "unknown_sensor_connected",
    13: "sensor_displaced",
    14: "sensor_malfunctioning",
    15: "sensor_disconnected",
}
TEMPERATURE_TYPES: Final[Mapping[int, str]] = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastrointestinal_tract",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}
DST_MINUTES: Final[Mapping[int, int]] = {0: 0, 2: 30, 4: 60, 8: 120}

# Defined flag bits per characteristic; any other bit set is a reserved bit and the payload is refused.
VALID_FLAGS: Final[Mapping[int, int]] = {
    const.GLUCOSE_MEASUREMENT: 0x1F,
    const.GLUCOSE_MEASUREMENT_CONTEXT: 0xFF,
    const.CGM_MEASUREMENT: 0xE3,
    const.HEART_RATE_MEASUREMENT: 0x1F,
    const.BLOOD_PRESSURE_MEASUREMENT: 0x1F,
    const.PLX_SPOT_CHECK_MEASUREMENT: 0x1F,
    const.PLX_CONTINUOUS_MEASUREMENT: 0x1F,
    const.TEMPERATURE_MEASUREMENT: 0x07,
    const.WEIGHT_MEASUREMENT: 0x0F,
}

WEIGHT_UNSUCCESSFUL: Final = 0xFFFF


def crc16_mcrf4xx(data: bytes) -> int:
    """E2E-CRC of the CGM service: CRC-CCITT polynomial 0x1021, reflected, seed 0xFFFF (CRC-16/MCRF4XX)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


# ---------------------------------------------------------------- reader


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """Caller knowledge the bytes do not carry: the device clock's zone and whether CGM records have a CRC."""

    tz: tzinfo = UTC
    crc_present: bool | None = None  # None: detect per CGM record from its size byte


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if self.remaining < n:
            raise _Bad(f"truncated: {what} needs {n} byte(s) at offset {self.pos}, {self.remaining} left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int, what: str) -> int:
        return int.from_bytes(self.take(n, what), "little")

    def sint(self, n: int, what: str) -> int:
        return int.from_bytes(self.take(n, what), "little", signed=True)

    def sfloat(self, what: str) -> Medfloat:
        return decode_sfloat(self.uint(2, what))

    def float32(self, what: str) -> Medfloat:
        return decode_float(self.uint(4, what))

    def date_time(self, what: str, tz: tzinfo) -> datetime:
        year = self.uint(2, what)
        month, day, hour, minute, second = self.take(5, what)
        if year == 0 or month == 0 or day == 0:
            raise _Bad(f"{what}: date not known ({year:04d}-{month:02d}-{day:02d})")
        if year < 1582:
            raise _Bad(f"{what}: year {year} outside 1582-9999")
        try:
            local = datetime(year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError as exc:
            stamp = f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
            raise _Bad(f"{what}: impossible date {stamp}") from exc
        return local.astimezone(UTC)

    def end(self) -> None:
        if self.remaining:
            raise _Bad(f"over-long: {self.remaining} unexpected trailing byte(s) at offset {self.pos}")


def _flags(r: _Reader, char_uuid: int) -> int:
    flags = r.uint(1, "flags")
    reserved = flags & ~VALID_FLAGS[char_uuid] & 0xFF
    if reserved:
        raise _Bad(f"reserved flag bits set: {reserved:#04x} (flags {flags:#04x})")
    return flags


# ---------------------------------------------------------------- parsers


def _glucose(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    f = _flags(r, const.GLUCOSE_MEASUREMENT)
    sequence = r.uint(2, "sequence number")
    base_time = r.date_time("base time", o.tz)
    time_offset = r.sint(2, "time offset") if f & 0x01 else None
    concentration = sample_type = sample_location = None
    if f & 0x02:
        concentration = r.sfloat("glucose concentration")
        type_location = r.uint(1, "type-sample location")
        sample_type, sample_location = type_location & 0x0F, type_location >> 4
    status = r.uint(2, "sensor status annunciation") if f & 0x08 else None
    r.end()
    return (
        GlucoseMeasurement(
            sequence=sequence,
            base_time=base_time,
            time_offset=time_offset,
            concentration=concentration,
            units="mol/L" if f & 0x04 else "kg/L",
            sample_type=sample_type,
            sample_location=sample_location,
            sensor_status=status,
            context_follows=bool(f & 0x10),
        ),
    )


def _glucose_context(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    f = _flags(r, const.GLUCOSE_MEASUREMENT_CONTEXT)
    sequence = r.uint(2, "sequence number")
    extended = r.uint(1, "extended flags") if f & 0x80 else None
    if extended:
        raise _Bad(f"reserved extended flag bits set: {extended:#04x}")
    carb_id = carb = None
    if f & 0x01:
        carb_id = r.uint(1, "carbohydrate id")
        carb = r.sfloat("carbohydrate")
    meal = r.uint(1, "meal") if f & 0x02 else None
    tester = health = None
    if f & 0x04:
        tester_health = r.uint(1, "tester-health")
        tester, health = tester_health & 0x0F, tester_health >> 4
    duration = intensity = None
    if f & 0x08:
        duration = r.uint(2, "exercise duration")
        intensity = r.uint(1, "exercise intensity")
    med_id = med = None
    if f & 0x10:
        med_id = r.uint(1, "medication id")
        med = r.sfloat("medication")
    hba1c = r.sfloat("HbA1c") if f & 0x40 else None
    r.end()
    return (
        GlucoseContext(
            sequence=sequence,
            extended_flags=extended,
            carbohydrate_id=carb_id,
            carbohydrate_kg=carb,
            meal=meal,
            tester=tester,
            health=health,
            exercise_duration_s=duration,
            exercise_intensity_pct=intensity,
            medication_id=med_id,
            medication=med,
            medication_units="L" if f & 0x20 else "kg",
            hba1c_pct=hba1c,
        ),
    )


def cgm_record_size(flags: int, crc: bool) -> int:
    """The size byte a CGM record with these flags must carry (size, flags, glucose, offset, options, CRC)."""
    size = 6
    size += sum(1 for bit in (0x80, 0x40, 0x20) if flags & bit)
    size += 2 * sum(1 for bit in (0x01, 0x02) if flags & bit)
    return size + (2 if crc else 0)


def _cgm(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    records: list[Measurement] = []
    if not r.remaining:
        raise _Bad("truncated: empty CGM notification")
    while r.remaining:
        start = r.pos
        size = r.uint(1, "size")
        f = _flags(r, const.CGM_MEASUREMENT)
        bare = cgm_record_size(f, crc=False)
        if o.crc_present is None:
            if size not in (bare, bare + 2):
                raise _Bad(
                    f"record at offset {start}: size byte {size} does not match flags ({bare} or {bare + 2})"
                )
            crc = size == bare + 2
        else:
            crc = o.crc_present
            if size != bare + (2 if crc else 0):
                raise _Bad(f"record at offset {start}: size byte {size} does not match flags and CRC setting")
        if start + size > len(r.data):
            left = len(r.data) - start
            raise _Bad(f"truncated: record at offset {start} claims {size} bytes, {left} left")
        glucose = r.sfloat("CGM glucose concentration")
        offset = r.uint(2, "time offset")
        status = r.uint(1, "status octet") if f & 0x80 else None
        cal_temp = r.uint(1, "cal/temp octet") if f & 0x40 else None
        warning = r.uint(1, "warning octet") if f & 0x20 else None
        trend = r.sfloat("trend") if f & 0x01 else None
        quality = r.sfloat("quality") if f & 0x02 else None
        if crc:
            expected = crc16_mcrf4xx(r.data[start : r.pos])
            got = r.uint(2, "E2E-CRC")
            if got != expected:
                raise _Bad(f"record at offset {start}: E2E-CRC {got:#06x} != computed {expected:#06x}")
        records.append(CgmMeasurement(glucose, offset, status, cal_temp, warning, trend, quality, crc))
    return tuple(records)


def _cgm_session_start(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    local = r.date_time("session start time", UTC)
    tz_raw = r.sint(1, "time zone")
    dst_raw = r.uint(1, "DST offset")
    crc = False
    if r.remaining == 2:
        expected = crc16_mcrf4xx(r.data[: r.pos])
        got = r.uint(2, "E2E-CRC")
        if got != expected:
            raise _Bad(f"E2E-CRC {got:#06x} != computed {expected:#06x}")
        crc = True
    r.end()
    if tz_raw != -128 and not -48 <= tz_raw <= 56:
        raise _Bad(f"time zone {tz_raw} outside -48..56")
    if dst_raw != 255 and dst_raw not in DST_MINUTES:
        raise _Bad(f"DST offset code {dst_raw} is reserved")
    tz_q = None if tz_raw == -128 else tz_raw
    dst = None if dst_raw == 255 else dst_raw
    if tz_q is None:
        # Zone unknown to the sensor: fall back to the caller's zone for the local time.
        start = local.replace(tzinfo=o.tz).astimezone(UTC)
    else:
        shift = timedelta(minutes=15 * tz_q + DST_MINUTES.get(dst if dst is not None else 0, 0))
        start = local - shift
    return (CgmSessionStartTime(start, tz_q, dst, crc),)


def _heart_rate(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    f = _flags(r, const.HEART_RATE_MEASUREMENT)
    wide = bool(f & 0x01)
    bpm = r.uint(2 if wide else 1, "heart rate value")
    contact_bits = (f >> 1) & 0x03
    contact = None if contact_bits < 2 else contact_bits == 3
    energy = r.uint(2, "energy expended") if f & 0x08 else None
    rr: tuple[int, ...] = ()
    if f & 0x10:
        if r.remaining == 0 or r.remaining % 2:
            raise _Bad(f"RR-interval field needs a positive even number of bytes, got {r.remaining}")
        rr = tuple(r.uint(2, "RR interval") for _ in range(r.remaining // 2))
    r.end()
    return (HeartRateMeasurement(bpm, wide, contact, energy, rr),)


def _blood_pressure(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    f = _flags(r, const.BLOOD_PRESSURE_MEASUREMENT)
    systolic = r.sfloat("systolic")
    diastolic = r.sfloat("diastolic")
    mean = r.sfloat("mean arterial pressure")
    ts = r.date_time("time stamp", o.tz) if f & 0x02 else None
    pulse = r.sfloat("pulse rate") if f & 0x04 else None
    user = r.uint(1, "user id") if f & 0x08 else None
    status = r.uint(2, "measurement status") if f & 0x10 else None
    r.end()
    units = "kPa" if f & 0x01 else "mmHg"
    return (BloodPressureMeasurement(systolic, diastolic, mean, units, ts, pulse, user, status),)


def _plx_spot(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    f = _flags(r, const.PLX_SPOT_CHECK_MEASUREMENT)
    spo2 = r.sfloat("SpO2")
    pr = r.sfloat("pulse rate")
    ts = r.date_time("timestamp", o.tz) if f & 0x01 else None
    status = r.uint(2, "measurement status") if f & 0x02 else None
    device = r.uint(3, "device and sensor status") if f & 0x04 else None
    pai = r.sfloat("pulse amplitude index") if f & 0x08 else None
    r.end()
    return (PlxSpotCheck(spo2, pr, ts, status, device, pai, bool(f & 0x10)),)


def _plx_continuous(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    f = _flags(r, const.PLX_CONTINUOUS_MEASUREMENT)
    spo2 = r.sfloat("SpO2")
    pr = r.sfloat("pulse rate")
    spo2_fast = pr_fast = spo2_slow = pr_slow = None
    if f & 0x01:
        spo2_fast, pr_fast = r.sfloat("SpO2 fast"), r.sfloat("pulse rate fast")
    if f & 0x02:
        spo2_slow, pr_slow = r.sfloat("SpO2 slow"), r.sfloat("pulse rate slow")
    status = r.uint(2, "measurement status") if f & 0x04 else None
    device = r.uint(3, "device and sensor status") if f & 0x08 else None
    pai = r.sfloat("pulse amplitude index") if f & 0x10 else None
    r.end()
    return (PlxContinuous(spo2, pr, spo2_fast, pr_fast, spo2_slow, pr_slow, status, device, pai),)


def _temperature(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    f = _flags(r, const.TEMPERATURE_MEASUREMENT)
    value = r.float32("temperature")
    ts = r.date_time("time stamp", o.tz) if f & 0x02 else None
    kind = r.uint(1, "temperature type") if f & 0x04 else None
    r.end()
    return (TemperatureMeasurement(value, "degF" if f & 0x01 else "Cel", ts, kind),)


def _weight(r: _Reader, o: DecodeOptions) -> tuple[Measurement, ...]:
    f = _flags(r, const.WEIGHT_MEASUREMENT)
    imperial = bool(f & 0x01)
    raw = r.uint(2, "weight")
    weight = None if raw == WEIGHT_UNSUCCESSFUL else (raw / 100 if imperial else raw / 200)
    ts = r.date_time("time stamp", o.tz) if f & 0x02 else None
    user = r.uint(1, "user id") if f & 0x04 else None
    bmi = height = None
    if f & 0x08:
        bmi = r.uint(2, "BMI") / 10
        raw_height = r.uint(2, "height")
        height = raw_height / 10 if imperial else raw_height / 1000
    r.end()
    return (WeightMeasurement(weight, imperial, ts, user, bmi, height),)


@dataclass(frozen=True, slots=True)
class CgmFeature:
    """CGM Feature 0x2AA8: read once at connect; e2e_crc_supported feeds decode(crc_present=...)."""

    features: int  # uint24 feature bits
    sample_type: int
    sample_location: int

    @property
    def e2e_crc_supported(self) -> bool:
        return bool(self.features & CGM_FEATURE_E2E_CRC)


CGM_FEATURE_E2E_CRC: Final = 1 << 12


def decode_cgm_feature(payload: bytes) -> CgmFeature:
    """Decodes CGM Feature (features uint24, type-location, E2E-CRC: 0xFFFF when CRC is not supported)."""
    raw = bytes(payload)
    try:
        r = _Reader(raw)
        features = r.uint(3, "CGM features")
        type_location = r.uint(1, "type-sample location")
        crc = r.uint(2, "E2E-CRC")
        r.end()
        if features & CGM_FEATURE_E2E_CRC and crc != crc16_mcrf4xx(raw[:4]):
            raise _Bad(f"E2E-CRC {crc:#06x} != computed {crc16_mcrf4xx(raw[:4]):#06x}")
    except _Bad as exc:
        raise DecodeError(const.CGM_FEATURE, raw, str(exc)) from exc
    return CgmFeature(features, type_location & 0x0F, type_location >> 4)


Parser = Callable[[_Reader, DecodeOptions], tuple[Measurement, ...]]

PARSERS: Final[Mapping[int, Parser]] = {
    const.GLUCOSE_MEASUREMENT: _glucose,
    const.GLUCOSE_MEASUREMENT_CONTEXT: _glucose_context,
    const.CGM_MEASUREMENT: _cgm,
    const.CGM_SESSION_START_TIME: _cgm_session_start,
    const.HEART_RATE_MEASUREMENT: _heart_rate,
    const.BLOOD_PRESSURE_MEASUREMENT: _blood_pressure,
    const.PLX_SPOT_CHECK_MEASUREMENT: _plx_spot,
    const.PLX_CONTINUOUS_MEASUREMENT: _plx_continuous,
    const.TEMPERATURE_MEASUREMENT: _temperature,
    const.WEIGHT_MEASUREMENT: _weight,
}


def decode(
    char_uuid: int, payload: bytes, *, tz: tzinfo = UTC, crc_present: bool | None = None
) -> tuple[Measurement, ...]:
    """Decodes one notification or indication value; raises DecodeError, and only that, when it is unusable.

    `tz` is the zone the device clock is set to (default UTC). `crc_present` says whether CGM records carry an
    E2E-CRC (from the CGM Feature characteristic); None detects it per record from the size byte.
    """
    raw = bytes(payload)
    parser = PARSERS.get(char_uuid)
    if parser is None:
        raise DecodeError(char_uuid, raw, f"unknown characteristic {char_uuid:#06x}")
    try:
        return parser(_Reader(raw), DecodeOptions(tz, crc_present))
    except _Bad as exc:
        raise DecodeError(char_uuid, raw, str(exc)) from exc
    except (ValueError, OverflowError, IndexError, TypeError, KeyError) as exc:  # defensive: one error type
        raise DecodeError(char_uuid, raw, f"{type(exc).__name__}: {exc}") from exc
