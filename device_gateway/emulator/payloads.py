"""Device-side byte builders for the emulated wearables (independent of the gateway's decoders)."""

from __future__ import annotations

import struct
from datetime import datetime

# RACP (0x2A52) op codes, operators, filter types and response codes (GLS spec, section 3.6).
RACP_REPORT_STORED = 0x01
RACP_DELETE_STORED = 0x02
RACP_ABORT = 0x03
RACP_REPORT_NUMBER = 0x04
RACP_NUMBER_RESPONSE = 0x05
RACP_RESPONSE_CODE = 0x06
OP_NULL = 0x00
OP_ALL = 0x01
OP_GREATER_OR_EQUAL = 0x03
FILTER_SEQUENCE = 0x01
RSP_SUCCESS = 0x01
RSP_OPCODE_NOT_SUPPORTED = 0x02
RSP_INVALID_OPERATOR = 0x03
RSP_OPERATOR_NOT_SUPPORTED = 0x04
RSP_INVALID_OPERAND = 0x05
RSP_NO_RECORDS = 0x06
RSP_OPERAND_NOT_SUPPORTED = 0x09


def sfloat(mantissa: int, exponent: int) -> bytes:
    """IEEE 11073 16-bit SFLOAT: 4-bit signed exponent, 12-bit signed mantissa, little-endian."""
    if not -2048 <= mantissa <= 2047 or not -8 <= exponent <= 7:
        raise ValueError(f"SFLOAT out of range: {mantissa}e{exponent}")
    return struct.pack("<H", ((exponent & 0xF) << 12) | (mantissa & 0x0FFF))


def sfloat_of(value: float, exponent: int) -> bytes:
    """Rounds `value` to a mantissa at a fixed decimal exponent."""
    return sfloat(round(value / 10**exponent), exponent)


def date_time(ts: datetime) -> bytes:
    """Bluetooth Date Time (0x2A08): year uint16, month, day, hours, minutes, seconds."""
    return struct.pack("<HBBBBB", ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second)


def cgm_measurement(mgdl: float, time_offset_min: int) -> bytes:
    """CGM Measurement (0x2AA7): size, flags=0, glucose SFLOAT mg/dL, time offset (minutes)."""
    body = bytes([0]) + sfloat_of(mgdl, 0) + struct.pack("<H", time_offset_min)
    return bytes([len(body) + 1]) + body


def cgm_session_start(ts: datetime) -> bytes:
    """CGM Session Start Time (0x2AAA): Date Time, time zone 0 (UTC), DST offset 0."""
    return date_time(ts) + bytes([0, 0])


def cgm_feature() -> bytes:
    """CGM Feature (0x2AA8): no optional features, type capillary whole blood / interstitial, no CRC."""
    return bytes([0, 0, 0]) + bytes([0x91]) + b"\xff\xff"


def glucose_measurement(seq: int, base_time: datetime, mgdl: float, *, context_follows: bool) -> bytes:
    """Glucose Measurement (0x2A18): flags, seq, base time, concentration (kg/L SFLOAT) + type/location."""
    flags = 0x02 | (0x10 if context_follows else 0)
    # mg/dL -> kg/L is 1e-5: 104 mg/dL is mantissa 104, exponent -5. Type 1 (capillary whole blood),
    # location 1 (finger): 0x11.
    return (
        bytes([flags]) + struct.pack("<H", seq) + date_time(base_time)
        + sfloat(round(mgdl), -5) + bytes([0x11])
    )


def glucose_context_carbs(seq: int, carbs_g: float, meal: int = 1) -> bytes:
    """Glucose Measurement Context (0x2A34): carbohydrate id 1 (breakfast) and grams as kg SFLOAT; meal."""
    flags = 0x01 | 0x02
    return bytes([flags]) + struct.pack("<H", seq) + bytes([1]) + sfloat(round(carbs_g), -3) + bytes([meal])


def glucose_feature() -> bytes:
    """Glucose Feature (0x2A51): none of the optional features."""
    return b"\x00\x00"


def heart_rate(bpm: int) -> bytes:
    """Heart Rate Measurement (0x2A37): flags=0 (uint8 value), the rate."""
    return bytes([0, bpm])


def blood_pressure(systolic: float, diastolic: float, mean: float, pulse: float) -> bytes:
    """Blood Pressure Measurement (0x2A35): mmHg, pulse rate present."""
    values = (systolic, diastolic, mean, pulse)
    return bytes([0x04]) + b"".join(sfloat_of(v, 0) for v in values)


def plx_spot_check(spo2: float, pulse: float) -> bytes:
    """PLX Spot-check Measurement (0x2A5E): flags=0, SpO2 %, pulse rate."""
    return bytes([0]) + sfloat_of(spo2, 0) + sfloat_of(pulse, 0)


def plx_features() -> bytes:
    """PLX Features (0x2A60): no optional fields supported."""
    return b"\x00\x00"


def racp_response(request_opcode: int, code: int) -> bytes:
    """RACP Response Code: op 0x06, operator null, operand = request op code and response code."""
    return bytes([RACP_RESPONSE_CODE, OP_NULL, request_opcode, code])


def racp_number(count: int) -> bytes:
    """RACP Number of Stored Records Response: op 0x05, operator null, uint16 count."""
    return bytes([RACP_NUMBER_RESPONSE, OP_NULL]) + struct.pack("<H", count)
