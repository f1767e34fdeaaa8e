"""Heart rate 0x2A37, blood pressure 0x2A35, PLX 0x2A5E/0x2A5F, temperature 0x2A1C and weight 0x2A9D."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from device_gateway.parsing import (
    BloodPressureMeasurement,
    DecodeError,
    HeartRateMeasurement,
    PlxContinuous,
    PlxSpotCheck,
    TemperatureMeasurement,
    WeightMeasurement,
    decode,
)
from device_gateway.sfloat import Medfloat, Special
from tests.device_gateway.gatt_cases import Field, combinations

T0 = datetime(2024, 3, 15, 8, 30, 0, tzinfo=UTC)
TS = bytes.fromhex("e807030f081e00")  # 2024-03-15 08:30:00
BAD_TS = bytes.fromhex("e807 02 1e 081e00")  # 2024-02-30: impossible


def _check(char: int, payload: bytes, expected: object) -> None:
    assert decode(char, payload) == (expected,)


def _malformed(char: int, payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(char, payload)
    assert reason in info.value.reason
    assert (info.value.char_uuid, info.value.raw_hex) == (char, payload.hex())


# ---------------------------------------------------------------- heart rate 0x2A37

HR_FIELDS: list[Field] = [
    ((0x01, 0x00), b"\x48", {"bpm": 72}),  # bit 0 clear: uint8 heart rate 72
    ((0x01, 0x01), b"\x48\x00", {"bpm": 72, "uint16_format": True}),  # bit 0 set: uint16 72
    ((0x06, 0x04), b"", {"sensor_contact": False}),  # bits 1-2 = 0b10: supported, not detected
    ((0x06, 0x06), b"", {"sensor_contact": True}),  # bits 1-2 = 0b11: supported, detected
    ((0x08, 0x08), b"\x34\x12", {"energy_expended_kj": 0x1234}),  # bit 3: energy 4660 kJ
    ((0x10, 0x10), b"\x00\x04\x00\x03", {"rr_intervals": (1024, 768)}),  # bit 4: RR 1.0 s, 0.75 s
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes.fromhex("00 48"), HeartRateMeasurement(72)),  # uint8 72, contact not supported
        (bytes.fromhex("02 48"), HeartRateMeasurement(72)),  # contact bits 0b01 also mean "not supported"
        # flags 0x16: contact supported+detected (0x06) | RR (0x10) ; 80 bpm ; RR 0x0400, 0x0300
        (bytes.fromhex("16 50 0004 0003"), HeartRateMeasurement(80, False, True, None, (1024, 768))),
        # flags 0x0D: uint16 | contact supported, not detected | energy ; 300 bpm ; 4660 kJ
        (bytes.fromhex("0d 2c01 3412"), HeartRateMeasurement(300, True, False, 4660)),
    ],
)
def test_heart_rate(payload: bytes, expected: HeartRateMeasurement) -> None:
    _check(0x2A37, payload, expected)


@pytest.mark.parametrize(("flags", "payload", "kwargs"), list(combinations(0x1F, HR_FIELDS)))
def test_heart_rate_every_flag_combination(flags: int, payload: bytes, kwargs: dict[str, object]) -> None:
    _check(0x2A37, payload, HeartRateMeasurement(**kwargs))  # type: ignore[arg-type]


def test_rr_seconds() -> None:
    (m,) = decode(0x2A37, bytes.fromhex("10 50 0004 0002"))
    assert isinstance(m, HeartRateMeasurement)
    assert m.rr_seconds == (1.0, 0.5)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "truncated"),  # nothing
        (bytes.fromhex("01 48"), "truncated"),  # uint16 value, one byte
        (bytes.fromhex("08 48 01"), "truncated"),  # energy cut
        (bytes.fromhex("10 48"), "RR-interval"),  # RR flagged, none sent
        (bytes.fromhex("10 48 000400"), "RR-interval"),  # odd RR bytes
        (bytes.fromhex("00 48 00"), "over-long"),  # stray byte
        (bytes.fromhex("20 48"), "reserved flag"),  # bit 5
        (bytes.fromhex("c0 48"), "reserved flag"),  # bits 6-7
    ],
)
def test_heart_rate_malformed(payload: bytes, reason: str) -> None:
    _malformed(0x2A37, payload, reason)


# ---------------------------------------------------------------- blood pressure 0x2A35

BP_FIELDS: list[Field] = [
    (None, b"\x78\x00", {"systolic": Medfloat(120, 0)}),  # systolic SFLOAT 120
    (None, b"\x50\x00", {"diastolic": Medfloat(80, 0)}),  # diastolic SFLOAT 80
    (None, b"\x5a\x00", {"mean_arterial": Medfloat(90, 0)}),  # MAP SFLOAT 90
    ((0x01, 0x01), b"", {"units": "kPa"}),  # bit 0: kPa (no bytes)
    ((0x02, 0x02), TS, {"timestamp": T0}),  # bit 1: time stamp
    ((0x04, 0x04), b"\x48\x00", {"pulse_rate": Medfloat(72, 0)}),  # bit 2: pulse rate 72
    ((0x08, 0x08), b"\x01", {"user_id": 1}),  # bit 3: user id 1
    ((0x10, 0x10), b"\x04\x00", {"measurement_status": 0x0004}),  # bit 4: irregular pulse
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            # flags 0x1E: time | pulse | user | status (mmHg) ; 120/80 MAP 90 ; 72 bpm ; user 1 ; irregular
            bytes.fromhex("1e 7800 5000 5a00 e807030f081e00 4800 01 0400"),
            BloodPressureMeasurement(
                Medfloat(120, 0), Medfloat(80, 0), Medfloat(90, 0), "mmHg", T0, Medfloat(72, 0), 1, 0x0004
            ),
            id="full-mmHg",
        ),
        pytest.param(
            # flags 0x01: kPa ; 0xF0A0 = 16.0 ; 0xF06B = 10.7 ; 0xF07D = 12.5
            bytes.fromhex("01 a0f0 6bf0 7df0"),
            BloodPressureMeasurement(Medfloat(160, -1), Medfloat(107, -1), Medfloat(125, -1), "kPa"),
            id="kPa",
        ),
        pytest.param(
            # flags 0 ; systolic 0x07FF NaN ; diastolic 80 ; MAP 0x0800 NRes
            bytes.fromhex("00 ff07 5000 0008"),
            BloodPressureMeasurement(
                Medfloat(0, 0, Special.NAN), Medfloat(80, 0), Medfloat(0, 0, Special.NRES)
            ),
            id="specials",
        ),
    ],
)
def test_blood_pressure(payload: bytes, expected: BloodPressureMeasurement) -> None:
    _check(0x2A35, payload, expected)


@pytest.mark.parametrize(("flags", "payload", "kwargs"), list(combinations(0x1F, BP_FIELDS)))
def test_blood_pressure_every_flag_combination(flags: int, payload: bytes, kwargs: dict[str, object]) -> None:
    _check(0x2A35, payload, BloodPressureMeasurement(**kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes.fromhex("00 7800 5000 5a"), "truncated"),  # MAP cut
        (bytes.fromhex("02 7800 5000 5a00 e80703"), "truncated"),  # time stamp cut
        (bytes.fromhex("00 7800 5000 5a00 01"), "over-long"),
        (bytes.fromhex("20 7800 5000 5a00"), "reserved flag"),
        (bytes.fromhex("02 7800 5000 5a00") + BAD_TS, "impossible date"),
    ],
)
def test_blood_pressure_malformed(payload: bytes, reason: str) -> None:
    _malformed(0x2A35, payload, reason)


# ---------------------------------------------------------------- PLX spot-check 0x2A5E

SPOT_FIELDS: list[Field] = [
    (None, b"\x62\x00", {"spo2": Medfloat(98, 0)}),  # SpO2 98 %
    (None, b"\x48\x00", {"pulse_rate": Medfloat(72, 0)}),  # PR 72 bpm
    ((0x01, 0x01), TS, {"timestamp": T0}),  # bit 0: timestamp
    ((0x02, 0x02), b"\x80\x00", {"measurement_status": 0x0080}),  # bit 1: validated data (bit 7)
    ((0x04, 0x04), b"\x20\x00\x00", {"device_sensor_status": 0x000020}),  # bit 2: low perfusion (bit 5)
    ((0x08, 0x08), b"\x19\xf0", {"pulse_amplitude_index": Medfloat(25, -1)}),  # bit 3: PAI 2.5 %
    ((0x10, 0x10), b"", {"device_clock_not_set": True}),  # bit 4: device clock not set
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(bytes.fromhex("00 6200 4800"), PlxSpotCheck(Medfloat(98, 0), Medfloat(72, 0)), id="min"),
        pytest.param(
            # flags 0x1F ; 98 % ; 72 bpm ; time ; status 0x0080 ; device 0x000020 ; PAI 0xF019 = 2.5
            bytes.fromhex("1f 6200 4800 e807030f081e00 8000 200000 19f0"),
            PlxSpotCheck(Medfloat(98, 0), Medfloat(72, 0), T0, 0x0080, 0x000020, Medfloat(25, -1), True),
            id="all",
        ),
    ],
)
def test_plx_spot_check(payload: bytes, expected: PlxSpotCheck) -> None:
    _check(0x2A5E, payload, expected)


@pytest.mark.parametrize(("flags", "payload", "kwargs"), list(combinations(0x1F, SPOT_FIELDS)))
def test_plx_spot_every_flag_combination(flags: int, payload: bytes, kwargs: dict[str, object]) -> None:
    _check(0x2A5E, payload, PlxSpotCheck(**kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes.fromhex("00 6200 48"), "truncated"),
        (bytes.fromhex("04 6200 4800 2000"), "truncated"),  # uint24 status cut
        (bytes.fromhex("00 6200 4800 00"), "over-long"),
        (bytes.fromhex("40 6200 4800"), "reserved flag"),
        (bytes.fromhex("01 6200 4800") + BAD_TS, "impossible date"),
    ],
)
def test_plx_spot_malformed(payload: bytes, reason: str) -> None:
    _malformed(0x2A5E, payload, reason)


# ---------------------------------------------------------------- PLX continuous 0x2A5F

CONT_FIELDS: list[Field] = [
    (None, b"\x61\x00", {"spo2": Medfloat(97, 0)}),  # SpO2 normal 97
    (None, b"\x46\x00", {"pulse_rate": Medfloat(70, 0)}),  # PR normal 70
    ((0x01, 0x01), b"\x60\x00\x47\x00", {"spo2_fast": Medfloat(96, 0), "pulse_rate_fast": Medfloat(71, 0)}),
    ((0x02, 0x02), b"\x62\x00\x45\x00", {"spo2_slow": Medfloat(98, 0), "pulse_rate_slow": Medfloat(69, 0)}),
    ((0x04, 0x04), b"\x00\x20", {"measurement_status": 0x2000}),  # bit 2: measurement unavailable (13)
    ((0x08, 0x08), b"\x00\x80\x00", {"device_sensor_status": 0x008000}),  # bit 3: sensor disconnected
    ((0x10, 0x10), b"\x19\xf0", {"pulse_amplitude_index": Medfloat(25, -1)}),  # bit 4: PAI 2.5 %
]


def test_plx_continuous_literal() -> None:
    # flags 0x1F ; 97/70 ; fast 96/71 ; slow 98/69 ; status 0x2000 ; device 0x008000 ; PAI 2.5
    payload = bytes.fromhex("1f 6100 4600 6000 4700 6200 4500 0020 008000 19f0")
    expected = PlxContinuous(
        Medfloat(97, 0),
        Medfloat(70, 0),
        Medfloat(96, 0),
        Medfloat(71, 0),
        Medfloat(98, 0),
        Medfloat(69, 0),
        0x2000,
        0x008000,
        Medfloat(25, -1),
    )
    _check(0x2A5F, payload, expected)


@pytest.mark.parametrize(("flags", "payload", "kwargs"), list(combinations(0x1F, CONT_FIELDS)))
def test_plx_continuous_every_flag_combination(flags: int, payload: bytes, kwargs: dict[str, object]) -> None:
    _check(0x2A5F, payload, PlxContinuous(**kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes.fromhex("01 6100 4600 6000"), "truncated"),  # fast PR missing
        (bytes.fromhex("00 6100 4600 0000"), "over-long"),
        (bytes.fromhex("20 6100 4600"), "reserved flag"),
        (bytes.fromhex("80 6100 4600"), "reserved flag"),
    ],
)
def test_plx_continuous_malformed(payload: bytes, reason: str) -> None:
    _malformed(0x2A5F, payload, reason)


# ---------------------------------------------------------------- temperature 0x2A1C

TEMP_FIELDS: list[Field] = [
    (None, b"\x73\x01\x00\xff", {"temperature": Medfloat(371, -1)}),  # FLOAT 0xFF000173 = 37.1
    ((0x01, 0x01), b"", {"units": "degF"}),  # bit 0: Fahrenheit
    ((0x02, 0x02), TS, {"timestamp": T0}),  # bit 1: time stamp
    ((0x04, 0x04), b"\x02", {"temperature_type": 2}),  # bit 2: type 2 (body, general)
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # flags 0x06: time | type (Celsius) ; 0xFF000173 = 37.1 ; time ; type 2 body
        (
            bytes.fromhex("06 730100ff e807030f081e00 02"),
            TemperatureMeasurement(Medfloat(371, -1), "Cel", T0, 2),
        ),
        # flags 0x01: Fahrenheit ; 0xFF0003DA = 986e-1 = 98.6 °F
        (bytes.fromhex("01 da0300ff"), TemperatureMeasurement(Medfloat(986, -1), "degF")),
        # flags 0 ; 0x007FFFFF = NaN
        (bytes.fromhex("00 ffff7f00"), TemperatureMeasurement(Medfloat(0, 0, Special.NAN))),
        # flags 0 ; 0xFEFFFF38 = -200e-2 = -2.00 °C
        (bytes.fromhex("00 38fffffe"), TemperatureMeasurement(Medfloat(-200, -2))),
    ],
)
def test_temperature(payload: bytes, expected: TemperatureMeasurement) -> None:
    _check(0x2A1C, payload, expected)


@pytest.mark.parametrize(("flags", "payload", "kwargs"), list(combinations(0x07, TEMP_FIELDS)))
def test_temperature_every_flag_combination(flags: int, payload: bytes, kwargs: dict[str, object]) -> None:
    _check(0x2A1C, payload, TemperatureMeasurement(**kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes.fromhex("00 730100"), "truncated"),  # FLOAT cut
        (bytes.fromhex("04 730100ff"), "truncated"),  # type flagged, absent
        (bytes.fromhex("00 730100ff 02"), "over-long"),
        (bytes.fromhex("08 730100ff"), "reserved flag"),
        (bytes.fromhex("02 730100ff") + BAD_TS, "impossible date"),
    ],
)
def test_temperature_malformed(payload: bytes, reason: str) -> None:
    _malformed(0x2A1C, payload, reason)


# ---------------------------------------------------------------- weight 0x2A9D

WEIGHT_FIELDS: list[Field] = [
    ((0x01, 0x00), b"\xb0\x36", {"weight": 70.0}),  # SI: 0x36B0 = 14000 * 0.005 kg = 70 kg
    ((0x01, 0x01), b"\xb0\x36", {"weight": 140.0, "imperial": True}),  # imperial: 14000 * 0.01 lb
    ((0x02, 0x02), TS, {"timestamp": T0}),  # bit 1: time stamp
    ((0x04, 0x04), b"\x01", {"user_id": 1}),  # bit 2: user id 1
    ((0x09, 0x08), b"\xe5\x00\xd6\x06", {"bmi": 22.9, "height": 1.75}),  # BMI 229 * 0.1, 1750 * 0.001 m
    ((0x09, 0x09), b"\xe5\x00\xd6\x06", {"bmi": 22.9, "height": 175.0}),  # imperial: 1750 * 0.1 in
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # flags 0x0E: time | user | BMI+height (SI) ; 70 kg ; time ; user 1 ; BMI 22.9 ; 1.75 m
        (
            bytes.fromhex("0e b036 e807030f081e00 01 e500 d606"),
            WeightMeasurement(70.0, False, T0, 1, 22.9, 1.75),
        ),
        # flags 0x09: imperial | BMI+height ; 0x3D5C = 15708 -> 157.08 lb ; BMI 30.1 ; 0x02AC = 684 -> 68.4 in
        (bytes.fromhex("09 5c3d 2d01 ac02"), WeightMeasurement(157.08, True, None, None, 30.1, 68.4)),
        # flags 0 ; 0xFFFF = measurement unsuccessful
        (bytes.fromhex("00 ffff"), WeightMeasurement(None)),
    ],
)
def test_weight(payload: bytes, expected: WeightMeasurement) -> None:
    _check(0x2A9D, payload, expected)


@pytest.mark.parametrize(("flags", "payload", "kwargs"), list(combinations(0x0F, WEIGHT_FIELDS)))
def test_weight_every_flag_combination(flags: int, payload: bytes, kwargs: dict[str, object]) -> None:
    _check(0x2A9D, payload, WeightMeasurement(**kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes.fromhex("00 b0"), "truncated"),
        (bytes.fromhex("08 b036 e500"), "truncated"),  # height missing
        (bytes.fromhex("00 b036 00"), "over-long"),
        (bytes.fromhex("10 b036"), "reserved flag"),
        (bytes.fromhex("02 b036") + BAD_TS, "impossible date"),
    ],
)
def test_weight_malformed(payload: bytes, reason: str) -> None:
    _malformed(0x2A9D, payload, reason)
