"""Glucose Measurement 0x2A18 and Glucose Measurement Context 0x2A34, byte by byte from the GSS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from device_gateway.parsing import DecodeError, GlucoseContext, GlucoseMeasurement, decode
from device_gateway.sfloat import Medfloat, Special
from tests.device_gateway.gatt_cases import Field, combinations

T0 = datetime(2024, 3, 15, 8, 30, 0, tzinfo=UTC)
BASE_TIME = bytes.fromhex("e807030f081e00")  # 2024 (0x07E8 LE), March, 15th, 08:30:00

GLUCOSE_FIELDS: list[Field] = [
    (None, b"\x07\x00", {"sequence": 7}),  # sequence number uint16 = 7
    (None, BASE_TIME, {"base_time": T0}),  # base time, 7 bytes
    ((0x01, 0x01), b"\xfb\xff", {"time_offset": -5}),  # bit 0: time offset sint16 = -5 minutes
    # bit 1: concentration SFLOAT 0xB05F (exp -5, mantissa 95) + type/location 0x12 (type 2, location 1)
    (
        (0x02, 0x02),
        b"\x5f\xb0\x12",
        {"concentration": Medfloat(95, -5), "sample_type": 2, "sample_location": 1},
    ),
    ((0x04, 0x04), b"", {"units": "mol/L"}),  # bit 2: units mol/L instead of kg/L (no bytes)
    ((0x08, 0x08), b"\x41\x00", {"sensor_status": 0x0041}),  # bit 3: annunciation: battery low + below range
    ((0x10, 0x10), b"", {"context_follows": True}),  # bit 4: context information follows (no bytes)
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            bytes.fromhex("00 0700 e807030f081e00"),
            # flags 0x00 | seq 7 | 2024-03-15 08:30:00 ; nothing else
            GlucoseMeasurement(sequence=7, base_time=T0),
            id="minimal",
        ),
        pytest.param(
            bytes.fromhex("1b 2a01 e807030f081e00 0a00 5fb0 12 0100"),
            # flags 0x1B = time offset | concentration+type | sensor status | context follows
            # seq 0x012A = 298 | base time | offset +10 min | 0xB05F = 95e-5 kg/L (95 mg/dL)
            # type 2 (capillary plasma), location 1 (finger) | status bit 0 (battery low)
            GlucoseMeasurement(
                sequence=298,
                base_time=T0,
                time_offset=10,
                concentration=Medfloat(95, -5),
                units="kg/L",
                sample_type=2,
                sample_location=1,
                sensor_status=0x0001,
                context_follows=True,
            ),
            id="meter-typical",
        ),
        pytest.param(
            bytes.fromhex("06 0100 e807030f081e00 35c0 f1"),
            # flags 0x06 = concentration+type | mol/L ; seq 1 ; base time
            # 0xC035 = exp -4, mantissa 53 -> 0.0053 mol/L (5.3 mmol/L)
            # type-location 0xF1: type 1 (capillary whole blood), location 15 (not available)
            GlucoseMeasurement(
                sequence=1,
                base_time=T0,
                concentration=Medfloat(53, -4),
                units="mol/L",
                sample_type=1,
                sample_location=15,
            ),
            id="mol-per-litre",
        ),
        pytest.param(
            bytes.fromhex("02 0200 e807030f081e00 ff07 11"),
            # flags 0x02 ; seq 2 ; concentration 0x07FF = NaN ; type 1, location 1
            GlucoseMeasurement(
                sequence=2,
                base_time=T0,
                concentration=Medfloat(0, 0, Special.NAN),
                sample_type=1,
                sample_location=1,
            ),
            id="nan-concentration",
        ),
    ],
)
def test_glucose_measurement(payload: bytes, expected: GlucoseMeasurement) -> None:
    assert decode(0x2A18, payload) == (expected,)


@pytest.mark.parametrize(("flags", "payload", "kwargs"), list(combinations(0x1F, GLUCOSE_FIELDS)))
def test_glucose_every_flag_combination(flags: int, payload: bytes, kwargs: dict[str, object]) -> None:
    assert decode(0x2A18, payload) == (GlucoseMeasurement(**kwargs),)  # type: ignore[arg-type]


def test_glucose_measured_at_applies_offset_and_caller_zone() -> None:
    payload = bytes.fromhex("01 0700 e807030f081e00 fbff")  # offset -5 min
    (m,) = decode(0x2A18, payload, tz=timezone(timedelta(hours=2)))
    assert isinstance(m, GlucoseMeasurement)
    assert m.base_time == datetime(2024, 3, 15, 6, 30, tzinfo=UTC)  # 08:30 at UTC+2
    assert m.measured_at == datetime(2024, 3, 15, 6, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "truncated"),  # no flags at all
        (bytes.fromhex("0007"), "truncated"),  # sequence cut after one byte
        (bytes.fromhex("00 0700 e807030f08"), "truncated"),  # base time cut
        (bytes.fromhex("02 0700 e807030f081e00 5fb0"), "truncated"),  # type-location missing
        (bytes.fromhex("00 0700 e807030f081e00 00"), "over-long"),  # one trailing byte
        (bytes.fromhex("20 0700 e807030f081e00"), "reserved flag"),  # bit 5 reserved
        (bytes.fromhex("80 0700 e807030f081e00"), "reserved flag"),  # bit 7 reserved
        (bytes.fromhex("00 0700 e807 0d 0f081e00"), "impossible date"),  # month 13
        (bytes.fromhex("00 0700 e807021e081e00"), "impossible date"),  # 30 February
        (bytes.fromhex("00 0700 e807030f 18 1e00"), "impossible date"),  # hour 24
        (bytes.fromhex("00 0700 0000030f081e00"), "not known"),  # year 0 = unknown
        (bytes.fromhex("00 0700 2c06030f081e00"), "outside 1582"),  # year 0x062C = 1580
    ],
)
def test_glucose_malformed(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(0x2A18, payload)
    assert reason in info.value.reason
    assert info.value.char_uuid == 0x2A18
    assert info.value.raw_hex == payload.hex()


# ---------------------------------------------------------------- 0x2A34

CONTEXT_FIELDS: list[Field] = [
    (None, b"\x07\x00", {"sequence": 7}),  # sequence number uint16 = 7
    ((0x80, 0x80), b"\x00", {"extended_flags": 0}),  # bit 7: extended flags uint8 (all RFU, 0)
    # bit 0: carbohydrate id 1 (breakfast) + SFLOAT 0xD02D (exp -3, mantissa 45) = 0.045 kg
    ((0x01, 0x01), b"\x01\x2d\xd0", {"carbohydrate_id": 1, "carbohydrate_kg": Medfloat(45, -3)}),
    ((0x02, 0x02), b"\x01", {"meal": 1}),  # bit 1: meal 1 (preprandial)
    ((0x04, 0x04), b"\x51", {"tester": 1, "health": 5}),  # bit 2: tester 1 (self) low, health 5 high
    # bit 3: exercise duration uint16 0x0708 = 1800 s + intensity 0x3C = 60 %
    ((0x08, 0x08), b"\x08\x07\x3c", {"exercise_duration_s": 1800, "exercise_intensity_pct": 60}),
    # bit 4: medication id 1 (rapid-acting insulin) + SFLOAT 0xB004 (exp -5, mantissa 4)
    ((0x10, 0x10), b"\x01\x04\xb0", {"medication_id": 1, "medication": Medfloat(4, -5)}),
    ((0x20, 0x20), b"", {"medication_units": "L"}),  # bit 5: medication in litres (no bytes)
    ((0x40, 0x40), b"\x41\xf0", {"hba1c_pct": Medfloat(65, -1)}),  # bit 6: HbA1c 0xF041 = 6.5 %
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            bytes.fromhex("00 0700"),  # flags 0 | seq 7
            GlucoseContext(sequence=7),
            id="minimal",
        ),
        pytest.param(
            bytes.fromhex("33 0900 03 3cd0 02 04 28b0"),
            # flags 0x33 = carbs (0x01) | meal (0x02) | medication (0x10) | litres (0x20) ; seq 9
            # carbohydrate id 3 (dinner) + 0xD03C = exp -3, mantissa 60 -> 0.060 kg (60 g)
            # meal 2 (postprandial)
            # medication id 4 (long-acting insulin) + 0xB028 = exp -5, mantissa 40 -> 0.0004 L (40 U at U-100)
            GlucoseContext(
                sequence=9,
                carbohydrate_id=3,
                carbohydrate_kg=Medfloat(60, -3),
                meal=2,
                medication_id=4,
                medication=Medfloat(40, -5),
                medication_units="L",
            ),
            id="carbs-meal-insulin",
        ),
    ],
)
def test_glucose_context(payload: bytes, expected: GlucoseContext) -> None:
    assert decode(0x2A34, payload) == (expected,)


@pytest.mark.parametrize(("flags", "payload", "kwargs"), list(combinations(0xFF, CONTEXT_FIELDS)))
def test_context_every_flag_combination(flags: int, payload: bytes, kwargs: dict[str, object]) -> None:
    assert decode(0x2A34, payload) == (GlucoseContext(**kwargs),)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes.fromhex("00"), "truncated"),  # sequence missing
        (bytes.fromhex("01 0700 01 2d"), "truncated"),  # carbohydrate SFLOAT cut
        (bytes.fromhex("40 0700"), "truncated"),  # HbA1c flagged, absent
        (bytes.fromhex("02 0700 01 ff"), "over-long"),  # meal + one stray byte
        (bytes.fromhex("80 0700 01"), "reserved extended flag"),  # extended flags bit 0 set (RFU)
    ],
)
def test_context_malformed(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(0x2A34, payload)
    assert reason in info.value.reason
