"""Encoders: hypothesis round trips for every measurement type, and bytes -> object -> bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_gateway import const
from device_gateway.encoding import EncodeError, char_uuid_for, encode, encode_cgm_records
from device_gateway.parsing import (
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
    decode,
)
from device_gateway.sfloat import Medfloat, decode_float, decode_sfloat
from tests.device_gateway.gatt_cases import combinations
from tests.device_gateway.test_parsing_glucose import CONTEXT_FIELDS, GLUCOSE_FIELDS
from tests.device_gateway.test_parsing_vitals import (
    BP_FIELDS,
    CONT_FIELDS,
    SPOT_FIELDS,
    TEMP_FIELDS,
    WEIGHT_FIELDS,
)

SETTINGS = settings(max_examples=200, deadline=None)

sfloats = st.integers(0, 0xFFFF).map(decode_sfloat)  # every SFLOAT word, specials included
floats32 = st.integers(0, 0xFFFFFFFF).map(decode_float)
u8, u16, u24 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFF)
nibble = st.integers(0, 15)
times = st.datetimes(
    min_value=datetime(1600, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
zones: st.SearchStrategy[tzinfo] = st.integers(-48, 56).map(lambda q: timezone(timedelta(minutes=15 * q)))


def opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


@st.composite
def glucose(draw: st.DrawFn) -> GlucoseMeasurement:
    conc = draw(st.none() | st.tuples(sfloats, nibble, nibble))
    c, t, loc = conc if conc else (None, None, None)
    return GlucoseMeasurement(
        sequence=draw(u16),
        base_time=draw(times),
        time_offset=draw(opt(st.integers(-32768, 32767))),
        concentration=c,
        units=draw(st.sampled_from(["kg/L", "mol/L"])),
        sample_type=t,
        sample_location=loc,
        sensor_status=draw(opt(u16)),
        context_follows=draw(st.booleans()),
    )


@st.composite
def context(draw: st.DrawFn) -> GlucoseContext:
    carbs = draw(opt(st.tuples(u8, sfloats))) or (None, None)
    tester = draw(opt(st.tuples(nibble, nibble))) or (None, None)
    exercise = draw(opt(st.tuples(u16, u8))) or (None, None)
    medication = draw(opt(st.tuples(u8, sfloats))) or (None, None)
    return GlucoseContext(
        sequence=draw(u16),
        extended_flags=draw(st.sampled_from([None, 0])),
        carbohydrate_id=carbs[0],
        carbohydrate_kg=carbs[1],
        meal=draw(opt(u8)),
        tester=tester[0],
        health=tester[1],
        exercise_duration_s=exercise[0],
        exercise_intensity_pct=exercise[1],
        medication_id=medication[0],
        medication=medication[1],
        medication_units=draw(st.sampled_from(["kg", "L"])),
        hba1c_pct=draw(opt(sfloats)),
    )


cgm = st.builds(
    CgmMeasurement,
    glucose=sfloats,
    time_offset=u16,
    status_octet=opt(u8),
    cal_temp_octet=opt(u8),
    warning_octet=opt(u8),
    trend=opt(sfloats),
    quality=opt(sfloats),
    e2e_crc=st.booleans(),
)


@st.composite
def heart_rate(draw: st.DrawFn) -> HeartRateMeasurement:
    wide = draw(st.booleans())
    return HeartRateMeasurement(
        bpm=draw(u16 if wide else u8),
        uint16_format=wide,
        sensor_contact=draw(opt(st.booleans())),
        energy_expended_kj=draw(opt(u16)),
        rr_intervals=tuple(draw(st.lists(u16, max_size=9))),
    )


blood_pressure = st.builds(
    BloodPressureMeasurement,
    systolic=sfloats,
    diastolic=sfloats,
    mean_arterial=sfloats,
    units=st.sampled_from(["mmHg", "kPa"]),
    timestamp=opt(times),
    pulse_rate=opt(sfloats),
    user_id=opt(u8),
    measurement_status=opt(u16),
)
spot = st.builds(
    PlxSpotCheck,
    spo2=sfloats,
    pulse_rate=sfloats,
    timestamp=opt(times),
    measurement_status=opt(u16),
    device_sensor_status=opt(u24),
    pulse_amplitude_index=opt(sfloats),
    device_clock_not_set=st.booleans(),
)


@st.composite
def continuous(draw: st.DrawFn) -> PlxContinuous:
    fast = draw(opt(st.tuples(sfloats, sfloats))) or (None, None)
    slow = draw(opt(st.tuples(sfloats, sfloats))) or (None, None)
    return PlxContinuous(
        spo2=draw(sfloats),
        pulse_rate=draw(sfloats),
        spo2_fast=fast[0],
        pulse_rate_fast=fast[1],
        spo2_slow=slow[0],
        pulse_rate_slow=slow[1],
        measurement_status=draw(opt(u16)),
        device_sensor_status=draw(opt(u24)),
        pulse_amplitude_index=draw(opt(sfloats)),
    )


temperature = st.builds(
    TemperatureMeasurement,
    temperature=floats32,
    units=st.sampled_from(["Cel", "degF"]),
    timestamp=opt(times),
    temperature_type=opt(u8),
)


@st.composite
def weight(draw: st.DrawFn) -> WeightMeasurement:
    imperial = draw(st.booleans())
    raw = draw(opt(st.integers(0, 0xFFFE)))
    bmi_height = draw(opt(st.tuples(u16, u16)))
    return WeightMeasurement(
        weight=None if raw is None else raw / (100 if imperial else 200),
        imperial=imperial,
        timestamp=draw(opt(times)),
        user_id=draw(opt(u8)),
        bmi=None if bmi_height is None else bmi_height[0] / 10,
        height=None if bmi_height is None else bmi_height[1] / (10 if imperial else 1000),
    )


@st.composite
def session_start(draw: st.DrawFn) -> CgmSessionStartTime:
    zone = draw(opt(st.integers(-48, 56)))
    return CgmSessionStartTime(
        start=draw(times),
        time_zone_quarter_hours=zone,
        dst_code=draw(st.sampled_from([None, 0, 2, 4, 8])) if zone is not None else None,
        e2e_crc=draw(st.booleans()),
    )


measurements = st.one_of(
    glucose(),
    context(),
    cgm,
    heart_rate(),
    blood_pressure,
    spot,
    continuous(),
    temperature,
    weight(),
    session_start(),
)


@SETTINGS
@given(measurements)
def test_round_trip_every_type(m: Measurement) -> None:
    assert decode(char_uuid_for(m), encode(m)) == (m,)


@SETTINGS
@given(st.one_of(glucose(), blood_pressure, spot, temperature, weight()), zones)
def test_round_trip_in_a_device_zone(m: Measurement, tz: tzinfo) -> None:
    assert decode(char_uuid_for(m), encode(m, tz=tz), tz=tz) == (m,)


@settings(max_examples=100, deadline=None)
@given(st.lists(cgm, min_size=1, max_size=6))
def test_cgm_notification_with_several_records(records: list[CgmMeasurement]) -> None:
    assert decode(const.CGM_MEASUREMENT, encode_cgm_records(records)) == tuple(records)


COMBINATION_TABLES = [
    (0x2A18, 0x1F, GLUCOSE_FIELDS),
    (0x2A34, 0xFF, CONTEXT_FIELDS),
    (0x2A35, 0x1F, BP_FIELDS),
    (0x2A5E, 0x1F, SPOT_FIELDS),
    (0x2A5F, 0x1F, CONT_FIELDS),
    (0x2A1C, 0x07, TEMP_FIELDS),
    (0x2A9D, 0x0F, WEIGHT_FIELDS),
]


@pytest.mark.parametrize(
    ("char", "mask", "fields"),
    COMBINATION_TABLES,
    ids=lambda v: f"{v:#06x}" if isinstance(v, int) and v > 0xFF else None,
)
def test_bytes_object_bytes_for_every_flag_combination(char: int, mask: int, fields: Any) -> None:
    for _flags, payload, _kwargs in combinations(mask, fields):
        (m,) = decode(char, payload)
        assert encode(m) == payload


def test_heart_rate_contact_not_supported_is_written_as_zero_bits() -> None:
    (m,) = decode(0x2A37, bytes.fromhex("02 48"))  # 0b01 in bits 1-2: "not supported"
    assert encode(m) == bytes.fromhex("00 48")


T = datetime(2024, 3, 15, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    [
        GlucoseMeasurement(1, T, concentration=Medfloat(95, -5)),  # no type/location
        GlucoseMeasurement(1, T.replace(tzinfo=None)),  # naive time
        GlucoseMeasurement(0x10000, T),  # sequence beyond uint16
        GlucoseMeasurement(1, T, units="mg/dL"),  # not a spec unit
        GlucoseContext(1, carbohydrate_id=1),  # id without amount
        HeartRateMeasurement(256),  # uint8 format, value too big
        WeightMeasurement(327.675),  # raw 65535 is "unsuccessful"
        WeightMeasurement(70.0, bmi=22.9),  # BMI without height
        PlxContinuous(Medfloat(97, 0), Medfloat(70, 0), spo2_fast=Medfloat(96, 0)),  # fast PR missing
        BloodPressureMeasurement(Medfloat(2047, 0), Medfloat(80, 0), Medfloat(90, 0)),  # NaN code collision
        TemperatureMeasurement(Medfloat(371, -1), units="K"),
        CgmMeasurement(Medfloat(120, 0), 70000),  # offset beyond uint16
    ],
)
def test_encoder_refuses_what_the_spec_cannot_carry(bad: Measurement) -> None:
    with pytest.raises(EncodeError):
        encode(bad)


def test_unknown_type() -> None:
    with pytest.raises(EncodeError):
        encode("not a measurement")  # type: ignore[arg-type]


def test_encoder_drops_sub_seconds() -> None:
    m = GlucoseMeasurement(1, T.replace(microsecond=999_999))
    assert decode(0x2A18, encode(m)) == (GlucoseMeasurement(1, T),)
