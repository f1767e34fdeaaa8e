"""The decode CLI: JSON for a good payload, a JSON error object and a nonzero exit for a bad one."""

from __future__ import annotations

import json

import pytest

from device_gateway.decode_cli import decode_to_json, main_decode
from device_gateway.parsing import DecodeError

GLUCOSE_HEX = "1b 2a01 e807030f081e00 0a00 5fb0 12 0100".replace(" ", "")


def test_decode_to_json() -> None:
    doc = json.loads(decode_to_json(0x2A18, GLUCOSE_HEX))
    assert doc == {
        "char": "0x2A18",
        "measurements": [
            {
                "type": "GlucoseMeasurement",
                "sequence": 298,
                "base_time": "2024-03-15T08:30:00+00:00",
                "time_offset": 10,
                "concentration": {"value": 0.00095, "mantissa": 95, "exponent": -5},
                "units": "kg/L",
                "sample_type": 2,
                "sample_location": 1,
                "sensor_status": 1,
                "context_follows": True,
            }
        ],
    }


def test_special_values_in_json() -> None:
    doc = json.loads(decode_to_json(0x2AA7, "06 00 fe07 0500"))
    assert doc["measurements"][0]["glucose"] == {"value": None, "special": "positive_infinity"}


def test_several_cgm_records_and_tuples() -> None:
    doc = json.loads(decode_to_json(0x2A37, "0x10 50 0004 0003"))
    assert doc["measurements"][0]["rr_intervals"] == [1024, 768]
    doc = json.loads(decode_to_json(0x2AA7, "06 00 7800 0f00" "06 00 7900 1400"))
    assert [m["time_offset"] for m in doc["measurements"]] == [15, 20]


def test_bad_hex_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="not hex"):
        decode_to_json(0x2A18, "zz")


def test_main_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_decode(["--char", "0x2A18", "--hex", GLUCOSE_HEX]) == 0
    assert json.loads(capsys.readouterr().out)["measurements"][0]["sequence"] == 298


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--char", "0x2A18", "--hex", "20 0700 e807030f081e00"], "reserved flag"),
        (["--char", "0x2A18", "--hex", "00 0700 e807 0d 0f081e00"], "impossible date"),
        (["--char", "0x2A29", "--hex", "41"], "unknown characteristic"),
        (["--char", "nope", "--hex", "00"], "not a hex UUID"),
    ],
)
def test_main_error(argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main_decode(argv) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert reason in error["reason"]
