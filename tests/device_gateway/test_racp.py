"""Record Access Control Point 0x2A52: requests, responses, the backfill step after a reconnect."""

from __future__ import annotations

import pytest

from device_gateway import racp
from device_gateway.parsing import DecodeError
from device_gateway.racp import (
    FilterType,
    NumberOfRecords,
    OpCode,
    Operator,
    RacpRequest,
    RacpResult,
    ResponseCode,
)

REPORT, SEQ = OpCode.REPORT_STORED_RECORDS, FilterType.SEQUENCE_NUMBER


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (racp.report_all(), "01 01"),  # op 0x01 report stored records | operator 0x01 all
        (racp.report_from(0x012B), "01 03 01 2b01"),  # op 0x01 | >= (0x03) | filter sequence (0x01) | 299 LE
        (racp.count_all(), "04 01"),  # op 0x04 report number of records | all
        (racp.count_from(5), "04 03 01 0500"),  # op 0x04 | >= | sequence | 5
        (racp.abort(), "03 00"),  # op 0x03 abort | null operator
        (racp.encode_number_of_records(12), "05 00 0c00"),  # op 0x05 | null | count 12
        (racp.encode_result(0x01, ResponseCode.NO_RECORDS_FOUND), "06 00 01 06"),
    ],
)
def test_built_bytes(built: bytes, expected: str) -> None:
    assert built == bytes.fromhex(expected)


@pytest.mark.parametrize(
    ("last_seen", "expected"),
    [
        (None, "01 01"),  # nothing seen yet: all records
        (0, "01 03 01 0100"),  # seen 0: ask for >= 1
        (298, "01 03 01 2b01"),  # seen 298: ask for >= 299
        (0xFFFE, "01 03 01 ffff"),  # seen 65534: >= 65535
        (0xFFFF, "01 01"),  # no uint16 after 65535: all again (ids de-duplicate)
    ],
)
def test_next_backfill_request(last_seen: int | None, expected: str) -> None:
    assert racp.next_backfill_request(last_seen) == bytes.fromhex(expected)


def test_sequence_out_of_range() -> None:
    with pytest.raises(ValueError):
        racp.report_from(0x10000)


@pytest.mark.parametrize(
    ("payload", "expected", "ok", "name"),
    [
        ("06 00 01 01", RacpResult(0x01, 0x01), True, "success"),
        ("06 00 01 06", RacpResult(0x01, 0x06), True, "no_records_found"),
        ("06 00 07 02", RacpResult(0x07, 0x02), False, "op_code_not_supported"),
        ("06 00 01 03", RacpResult(0x01, 0x03), False, "invalid_operator"),
        ("06 00 01 04", RacpResult(0x01, 0x04), False, "operator_not_supported"),
        ("06 00 01 05", RacpResult(0x01, 0x05), False, "invalid_operand"),
        ("06 00 03 07", RacpResult(0x03, 0x07), False, "abort_unsuccessful"),
        ("06 00 01 08", RacpResult(0x01, 0x08), False, "procedure_not_completed"),
        ("06 00 01 09", RacpResult(0x01, 0x09), False, "operand_not_supported"),
        ("06 00 01 0a", RacpResult(0x01, 0x0A), False, "reserved_0x0a"),
    ],
)
def test_response_codes(payload: str, expected: RacpResult, ok: bool, name: str) -> None:
    result = racp.parse_response(bytes.fromhex(payload))
    assert result == expected
    assert isinstance(result, RacpResult)
    assert (result.ok, result.name) == (ok, name)


def test_number_of_records_response() -> None:
    assert racp.parse_response(bytes.fromhex("05 00 2c01")) == NumberOfRecords(300)


@pytest.mark.parametrize(
    "payload",
    [
        "",  # empty
        "06",  # op code only
        "06 00 01",  # response code missing
        "06 00 01 01 00",  # over-long
        "05 00 2c",  # count cut
        "06 01 01 01",  # operator must be null
        "01 01",  # a request, not a response
    ],
)
def test_malformed_responses(payload: str) -> None:
    with pytest.raises(DecodeError) as info:
        racp.parse_response(bytes.fromhex(payload))
    assert info.value.char_uuid == 0x2A52


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("01 01", RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)),
        (
            "01 03 01 2b01",
            RacpRequest(REPORT, Operator.GREATER_THAN_OR_EQUAL, SEQ, b"\x2b\x01"),
        ),
        (
            "01 04 01 0100 0a00",  # within range 1..10
            RacpRequest(REPORT, Operator.WITHIN_RANGE, SEQ, b"\x01\x00\x0a\x00"),
        ),
        ("03 00", RacpRequest(OpCode.ABORT_OPERATION, Operator.NULL)),
        ("04 06", RacpRequest(OpCode.REPORT_NUMBER_OF_RECORDS, Operator.LAST_RECORD)),
    ],
)
def test_parse_request(payload: str, expected: RacpRequest) -> None:
    assert racp.parse_request(bytes.fromhex(payload)) == expected


def test_request_min_sequence_round_trip() -> None:
    assert racp.parse_request(racp.next_backfill_request(298)).min_sequence == 299
    assert racp.parse_request(racp.report_all()).min_sequence is None


@pytest.mark.parametrize(
    "payload",
    [
        "01",  # operator missing
        "09 01",  # unknown op code
        "01 07",  # unknown operator
        "01 01 00",  # all-records takes no operand
        "01 03",  # filter type missing
        "01 03 03 0100",  # unknown filter type
        "01 03 01 01",  # sequence operand cut
        "01 04 01 0100",  # range needs two bounds
    ],
)
def test_malformed_requests(payload: str) -> None:
    with pytest.raises(DecodeError):
        racp.parse_request(bytes.fromhex(payload))
