"""CGM Measurement 0x2AA7 (several records per notification, size byte, E2E-CRC) and Session Start 0x2AAA."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from device_gateway.parsing import (
    CgmFeature,
    CgmMeasurement,
    CgmSessionStartTime,
    DecodeError,
    cgm_record_size,
    crc16_mcrf4xx,
    decode,
    decode_cgm_feature,
)
from device_gateway.sfloat import Medfloat, Special

MINIMAL = bytes.fromhex("06 00 7800 0f00")  # size 6 | flags 0 | 120 mg/dL | offset 15 min
FULL = bytes.fromhex(
    "0d"  # size 13 = 6 + 3 octets + trend + quality
    "e3"  # flags: trend (0x01) | quality (0x02) | warning (0x20) | cal/temp (0x40) | status (0x80)
    "7800"  # glucose SFLOAT 120 mg/dL
    "1400"  # time offset 20 minutes
    "02"  # status octet: bit 1 device battery low
    "08"  # cal/temp octet: bit 3 (annunciation bit 11) calibration required
    "01"  # warning octet: bit 0 (annunciation bit 16) below patient low level
    "f1ff"  # trend 0xFFF1 = exp -1, mantissa -15 -> -1.5 mg/dL/min
    "5a00"  # quality 90 %
)
FULL_RECORD = CgmMeasurement(
    glucose=Medfloat(120, 0),
    time_offset=20,
    status_octet=0x02,
    cal_temp_octet=0x08,
    warning_octet=0x01,
    trend=Medfloat(-15, -1),
    quality=Medfloat(90, 0),
)


def test_check_value_of_the_e2e_crc() -> None:
    # CRC-16/MCRF4XX catalogue check value for ASCII "123456789".
    assert crc16_mcrf4xx(b"123456789") == 0x6F91


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(MINIMAL, (CgmMeasurement(Medfloat(120, 0), 15),), id="minimal"),
        pytest.param(FULL, (FULL_RECORD,), id="all-fields"),
        pytest.param(MINIMAL + FULL, (CgmMeasurement(Medfloat(120, 0), 15), FULL_RECORD), id="two-records"),
        pytest.param(
            bytes.fromhex("08 00 7800 0f00 7d15"),  # size 8 = 6 + CRC | ... | CRC 0x157D LE
            (CgmMeasurement(Medfloat(120, 0), 15, e2e_crc=True),),
            id="with-crc",
        ),
        pytest.param(
            bytes.fromhex("06 00 fe07 0500"),  # glucose 0x07FE = +INF (above range) | offset 5
            (CgmMeasurement(Medfloat(0, 0, Special.POSITIVE_INFINITY), 5),),
            id="special-glucose",
        ),
        pytest.param(
            bytes.fromhex("07 80 2800 ffff 01"),  # size 7 | status only | 40 mg/dL | offset 65535 | stopped
            (CgmMeasurement(Medfloat(40, 0), 65535, status_octet=0x01),),
            id="max-offset-status",
        ),
    ],
)
def test_cgm_measurement(payload: bytes, expected: tuple[CgmMeasurement, ...]) -> None:
    assert decode(0x2AA7, payload) == expected


OPTIONAL = [
    # (flag bit, fragment, kwargs) in payload order after glucose and offset
    (0x80, b"\x02", {"status_octet": 0x02}),
    (0x40, b"\x08", {"cal_temp_octet": 0x08}),
    (0x20, b"\x01", {"warning_octet": 0x01}),
    (0x01, b"\xf1\xff", {"trend": Medfloat(-15, -1)}),
    (0x02, b"\x5a\x00", {"quality": Medfloat(90, 0)}),
]


def _cases() -> list[tuple[int, bool]]:
    return [(flags, crc) for flags in range(256) if not flags & ~0xE3 for crc in (False, True)]


@pytest.mark.parametrize(("flags", "crc"), _cases())
def test_cgm_every_flag_combination(flags: int, crc: bool) -> None:
    body = b"\x78\x00" + b"\x0f\x00"  # 120 mg/dL, offset 15
    kwargs: dict[str, object] = {}
    for bit, fragment, expected in OPTIONAL:
        if flags & bit:
            body += fragment
            kwargs.update(expected)
    record = bytes((6 + len(body) - 4 + (2 if crc else 0), flags)) + body
    assert record[0] == cgm_record_size(flags, crc)
    if crc:
        record += crc16_mcrf4xx(record).to_bytes(2, "little")
    want = CgmMeasurement(Medfloat(120, 0), 15, e2e_crc=crc, **kwargs)  # type: ignore[arg-type]
    assert decode(0x2AA7, record) == (want,)
    assert decode(0x2AA7, record, crc_present=crc) == (want,)


@pytest.mark.parametrize(
    ("payload", "kwargs", "reason"),
    [
        (b"", {}, "truncated"),  # empty notification
        (bytes.fromhex("06 00 7800 0f"), {}, "truncated"),  # offset cut
        (MINIMAL + bytes.fromhex("06 00"), {}, "truncated"),  # second record cut
        (bytes.fromhex("07 00 7800 0f00"), {}, "size byte"),  # size says 7, flags give 6
        (bytes.fromhex("09 00 7800 0f00 000000"), {}, "size byte"),  # 9: neither 6 nor 8
        (bytes.fromhex("06 04 7800 0f00"), {}, "reserved flag"),  # bit 2 reserved
        (bytes.fromhex("06 10 7800 0f00"), {}, "reserved flag"),  # bit 4 reserved
        (bytes.fromhex("08 00 7800 0f00 7e15"), {}, "E2E-CRC"),  # CRC off by one
        (MINIMAL, {"crc_present": True}, "size byte"),  # feature says CRC, record has none
        (bytes.fromhex("08 00 7800 0f00 7d15"), {"crc_present": False}, "size byte"),
    ],
)
def test_cgm_malformed(payload: bytes, kwargs: dict[str, bool], reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(0x2AA7, payload, **kwargs)  # type: ignore[arg-type]
    assert reason in info.value.reason
    assert info.value.raw_hex == payload.hex()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            # 2024-03-15 08:30:00 local | time zone +4 quarter hours (UTC+1) | DST code 4 (+1 h)
            bytes.fromhex("e807030f081e00 04 04"),
            CgmSessionStartTime(datetime(2024, 3, 15, 6, 30, tzinfo=UTC), 4, 4),
            id="cet-summer",
        ),
        pytest.param(
            # same, zone unknown (-128 = 0x80), DST unknown (255): read in the caller's zone (UTC)
            bytes.fromhex("e807030f081e00 80 ff"),
            CgmSessionStartTime(datetime(2024, 3, 15, 8, 30, tzinfo=UTC), None, None),
            id="unknown-zone",
        ),
        pytest.param(
            # zone -20 quarter hours (UTC-5, 0xEC), DST 0 | E2E-CRC
            bytes.fromhex("e807030f081e00 ec 00")
            + crc16_mcrf4xx(bytes.fromhex("e807030f081e00 ec 00")).to_bytes(2, "little"),
            CgmSessionStartTime(datetime(2024, 3, 15, 13, 30, tzinfo=UTC), -20, 0, e2e_crc=True),
            id="crc",
        ),
    ],
)
def test_session_start_time(payload: bytes, expected: CgmSessionStartTime) -> None:
    assert decode(0x2AAA, payload) == (expected,)


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("e807030f081e00 04"),  # DST byte missing
        bytes.fromhex("e807030f081e00 04 04 00"),  # one stray byte
        bytes.fromhex("e807030f081e00 04 03"),  # DST code 3 reserved
        bytes.fromhex("e807030f081e00 40 00"),  # zone +64 quarter hours
        bytes.fromhex("e807 02 1e 081e00 04 04"),  # 30 February
        bytes.fromhex("e807030f081e00 04 04 0000"),  # wrong CRC
    ],
)
def test_session_start_malformed(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(0x2AAA, payload)


def test_cgm_feature_with_crc() -> None:
    # features 0x019001 = calibration (bit 0) | E2E-CRC (bit 12) | trend (bit 15) | quality (bit 16)
    # type-location 0x59: type 9 (interstitial fluid), location 5 ; then CRC over the 4 bytes
    body = bytes.fromhex("01 90 01 59")
    feature = decode_cgm_feature(body + crc16_mcrf4xx(body).to_bytes(2, "little"))
    assert feature == CgmFeature(0x019001, 9, 5)
    assert feature.e2e_crc_supported


def test_cgm_feature_without_crc() -> None:
    # features 0x000001 (calibration only) | type 9, location 5 | CRC field 0xFFFF (not supported)
    feature = decode_cgm_feature(bytes.fromhex("01 00 00 59 ffff"))
    assert feature == CgmFeature(0x000001, 9, 5)
    assert not feature.e2e_crc_supported


@pytest.mark.parametrize(
    "payload",
    [
        "01 00 00 59",  # CRC field missing
        "01 00 00 59 ffff 00",  # over-long
        "01 10 00 59 ffff",  # CRC supported (bit 12) but 0xFFFF is not the CRC
    ],
)
def test_cgm_feature_malformed(payload: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_cgm_feature(bytes.fromhex(payload))
    assert info.value.char_uuid == 0x2AA8
