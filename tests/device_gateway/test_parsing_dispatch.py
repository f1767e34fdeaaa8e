"""decode() as a whole: the dispatch table, the one error type, and no other exception for any bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_gateway import const
from device_gateway.parsing import PARSERS, DecodeError, decode


def test_unknown_characteristic() -> None:
    with pytest.raises(DecodeError) as info:
        decode(0x2A29, b"Acme")  # manufacturer name: not a measurement
    assert info.value.char_uuid == 0x2A29
    assert info.value.raw_hex == b"Acme".hex()
    assert "unknown characteristic" in info.value.reason
    assert isinstance(info.value, ValueError)


def test_table_covers_every_measurement_characteristic() -> None:
    wanted = {c for chars in const.MEASUREMENTS_BY_SERVICE.values() for c in chars}
    assert wanted <= set(PARSERS)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=40))
def test_arbitrary_bytes_never_raise_anything_but_decode_error(char: int, payload: bytes) -> None:
    try:
        decode(char, payload)
    except DecodeError as exc:
        assert exc.char_uuid == char
        assert exc.raw_hex == payload.hex()


def test_bytearray_and_memoryview_are_accepted() -> None:
    assert decode(0x2A37, bytearray(b"\x00\x48")) == decode(0x2A37, bytes(memoryview(b"\x00\x48")))
