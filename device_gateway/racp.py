"""Record Access Control Point (0x2A52) as pure bytes in, bytes out: the backfill after every reconnect."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from device_gateway import const
from device_gateway.parsing import DecodeError


class OpCode(IntEnum):
    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_RECORDS = 0x04
    NUMBER_OF_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class Operator(IntEnum):
    NULL = 0x00
    ALL_RECORDS = 0x01
    LESS_THAN_OR_EQUAL = 0x02
    GREATER_THAN_OR_EQUAL = 0x03
    WITHIN_RANGE = 0x04
    FIRST_RECORD = 0x05
    LAST_RECORD = 0x06


class FilterType(IntEnum):
    SEQUENCE_NUMBER = 0x01
    USER_FACING_TIME = 0x02


class ResponseCode(IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request as a meter sees it (used by emulated meters); `operand` holds the raw filter bytes."""

    op_code: OpCode
    operator: Operator
    filter_type: FilterType | None = None
    operand: bytes = b""

    @property
    def min_sequence(self) -> int | None:
        """The sequence bound of a 'greater than or equal to' sequence-number request."""
        if self.operator is Operator.GREATER_THAN_OR_EQUAL and self.filter_type is FilterType.SEQUENCE_NUMBER:
            return int.from_bytes(self.operand[:2], "little")
        return None


@dataclass(frozen=True, slots=True)
class NumberOfRecords:
    """Response 0x05: how many stored records match the request."""

    count: int


@dataclass(frozen=True, slots=True)
class RacpResult:
    """Response 0x06: the outcome of one request."""

    request_op_code: int
    code: int

    @property
    def name(self) -> str:
        try:
            return ResponseCode(self.code).name.lower()
        except ValueError:
            return f"reserved_{self.code:#04x}"

    @property
    def ok(self) -> bool:
        """True when the procedure finished: success, or no records to send (nothing left to backfill)."""
        return self.code in (ResponseCode.SUCCESS, ResponseCode.NO_RECORDS_FOUND)


RacpResponse = NumberOfRecords | RacpResult


def _seq(seq: int) -> bytes:
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"sequence number {seq} outside uint16")
    return seq.to_bytes(2, "little")


def report_all() -> bytes:
    return bytes((OpCode.REPORT_STORED_RECORDS, Operator.ALL_RECORDS))


def report_from(sequence: int) -> bytes:
    """Report stored records with sequence number >= `sequence`."""
    head = (OpCode.REPORT_STORED_RECORDS, Operator.GREATER_THAN_OR_EQUAL, FilterType.SEQUENCE_NUMBER)
    return bytes(head) + _seq(sequence)


def count_all() -> bytes:
    return bytes((OpCode.REPORT_NUMBER_OF_RECORDS, Operator.ALL_RECORDS))


def count_from(sequence: int) -> bytes:
    head = (OpCode.REPORT_NUMBER_OF_RECORDS, Operator.GREATER_THAN_OR_EQUAL, FilterType.SEQUENCE_NUMBER)
    return bytes(head) + _seq(sequence)


def abort() -> bytes:
    return bytes((OpCode.ABORT_OPERATION, Operator.NULL))


def next_backfill_request(last_seen_seq: int | None) -> bytes:
    """What to write after a reconnect: all records if none seen yet, else those after the last one seen.

    At 0xFFFF there is no "after" in uint16 (the meter's counter would wrap), so everything is requested;
    deterministic reading ids make the repeats harmless downstream.
    """
    if last_seen_seq is None or last_seen_seq >= 0xFFFF:
        return report_all()
    return report_from(last_seen_seq + 1)


def _err(payload: bytes, reason: str) -> DecodeError:
    return DecodeError(const.RECORD_ACCESS_CONTROL_POINT, payload, reason)


def parse_response(payload: bytes) -> RacpResponse:
    """Parses an RACP indication from the device; DecodeError when it is not a well-formed response."""
    raw = bytes(payload)
    if len(raw) < 2:
        raise _err(raw, f"truncated: RACP response needs at least 2 bytes, got {len(raw)}")
    op, operator = raw[0], raw[1]
    if operator != Operator.NULL:
        raise _err(raw, f"response operator must be null (0x00), got {operator:#04x}")
    if op == OpCode.NUMBER_OF_RECORDS_RESPONSE:
        if len(raw) != 4:
            raise _err(raw, f"number-of-records response needs 4 bytes, got {len(raw)}")
        return NumberOfRecords(int.from_bytes(raw[2:4], "little"))
    if op == OpCode.RESPONSE_CODE:
        if len(raw) != 4:
            raise _err(raw, f"response-code response needs 4 bytes, got {len(raw)}")
        return RacpResult(raw[2], raw[3])
    raise _err(raw, f"op code {op:#04x} is not a response")


def parse_request(payload: bytes) -> RacpRequest:
    """Parses a request written to a meter's RACP (for emulated meters); DecodeError when malformed."""
    raw = bytes(payload)
    if len(raw) < 2:
        raise _err(raw, f"truncated: RACP request needs at least 2 bytes, got {len(raw)}")
    try:
        op, operator = OpCode(raw[0]), Operator(raw[1])
    except ValueError as exc:
        raise _err(raw, f"unknown op code or operator: {exc}") from exc
    if operator in (Operator.NULL, Operator.ALL_RECORDS, Operator.FIRST_RECORD, Operator.LAST_RECORD):
        if len(raw) != 2:
            raise _err(raw, f"operator {operator.name} takes no operand")
        return RacpRequest(op, operator)
    if len(raw) < 3:
        raise _err(raw, "truncated: filter type missing")
    try:
        filter_type = FilterType(raw[2])
    except ValueError as exc:
        raise _err(raw, f"unknown filter type {raw[2]:#04x}") from exc
    width = 2 if filter_type is FilterType.SEQUENCE_NUMBER else 7
    expected = 3 + width * (2 if operator is Operator.WITHIN_RANGE else 1)
    if len(raw) != expected:
        raise _err(raw, f"{operator.name} with {filter_type.name} needs {expected} bytes, got {len(raw)}")
    return RacpRequest(op, operator, filter_type, raw[3:])


def encode_number_of_records(count: int) -> bytes:
    return bytes((OpCode.NUMBER_OF_RECORDS_RESPONSE, Operator.NULL)) + _seq(count)


def encode_result(request_op_code: int, code: ResponseCode) -> bytes:
    return bytes((OpCode.RESPONSE_CODE, Operator.NULL, request_op_code, code))
