"""IEEE 11073-20601 SFLOAT and FLOAT: hand-worked words, specials, negative parts, exhaustive round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_gateway.sfloat import (
    Medfloat,
    Special,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
)


@pytest.mark.parametrize(
    ("word", "expected", "value"),
    [
        # exponent 0x0 (0), mantissa 0x048 (72)                      -> 72
        (0x0048, Medfloat(72, 0), 72.0),
        # exponent 0xB (-5), mantissa 0x05F (95): glucose 95e-5 kg/L -> 0.00095
        (0xB05F, Medfloat(95, -5), 0.00095),
        # exponent 0xF (-1), mantissa 0xFF1 (-15): CGM trend          -> -1.5
        (0xFFF1, Medfloat(-15, -1), -1.5),
        # exponent 0x1 (1), mantissa 0x00C (12)                      -> 120
        (0x100C, Medfloat(12, 1), 120.0),
        # exponent 0x7 (7, largest), mantissa 0x7FD (2045)           -> 2.045e10
        (0x77FD, Medfloat(2045, 7), 2.045e10),
        # exponent 0x8 (-8, smallest), mantissa 0x800 (-2048)        -> -2.048e-5
        (0x8800, Medfloat(-2048, -8), -2.048e-5),
        # exponent 0x0, mantissa 0x000                               -> 0
        (0x0000, Medfloat(0, 0), 0.0),
        # exponent 0x1 (1), mantissa 0x7FF (2047): NaN's mantissa, but exponent != 0 -> a number
        (0x17FF, Medfloat(2047, 1), 20470.0),
        # exponent 0xE (-2), mantissa 0x16C (364): 3.64
        (0xE16C, Medfloat(364, -2), 3.64),
    ],
)
def test_sfloat_numbers(word: int, expected: Medfloat, value: float) -> None:
    decoded = decode_sfloat(word)
    assert decoded == expected
    assert decoded.value == value
    assert encode_sfloat(expected) == word


@pytest.mark.parametrize(
    ("word", "special"),
    [
        (0x07FF, Special.NAN),  # +(2^11 - 1)
        (0x0800, Special.NRES),  # -(2^11): not at this resolution
        (0x07FE, Special.POSITIVE_INFINITY),  # +(2^11 - 2)
        (0x0802, Special.NEGATIVE_INFINITY),  # -(2^11 - 2)
        (0x0801, Special.RESERVED),  # -(2^11 - 1)
    ],
)
def test_sfloat_specials_are_never_numbers(word: int, special: Special) -> None:
    decoded = decode_sfloat(word)
    assert decoded == Medfloat(0, 0, special)
    assert decoded.value is None
    assert encode_sfloat(decoded) == word


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        # exponent 0xFF (-1), mantissa 0x000173 (371): body temperature 37.1
        (0xFF000173, Medfloat(371, -1)),
        # exponent 0xFE (-2), mantissa 0xFFFF38 (-200): -2.00
        (0xFEFFFF38, Medfloat(-200, -2)),
        # exponent 0x02 (2), mantissa 0x000005: 500
        (0x02000005, Medfloat(5, 2)),
        # exponent 0x80 (-128), mantissa 0x800000 (-2^23): the most negative pair
        (0x80800000, Medfloat(-(2**23), -128)),
        # exponent 0x00, mantissa 0x7FFFFD (2^23 - 3): largest plain mantissa at exponent 0
        (0x007FFFFD, Medfloat(2**23 - 3, 0)),
    ],
)
def test_float_numbers(word: int, expected: Medfloat) -> None:
    assert decode_float(word) == expected
    assert encode_float(expected) == word


def test_float_value_is_the_correctly_rounded_decimal() -> None:
    assert decode_float(0xFF000173).value == 37.1
    assert decode_float(0xFEFFFF38).value == -2.0
    assert decode_float(0x02000005).value == 500.0


@pytest.mark.parametrize(
    ("word", "special"),
    [
        (0x007FFFFF, Special.NAN),
        (0x00800000, Special.NRES),
        (0x007FFFFE, Special.POSITIVE_INFINITY),
        (0x00800002, Special.NEGATIVE_INFINITY),
        (0x00800001, Special.RESERVED),
    ],
)
def test_float_specials(word: int, special: Special) -> None:
    decoded = decode_float(word)
    assert decoded.special is special
    assert decoded.value is None
    assert encode_float(decoded) == word


def test_every_sfloat_word_round_trips() -> None:
    for word in range(0x10000):
        assert encode_sfloat(decode_sfloat(word)) == word


@settings(max_examples=300)
@given(st.integers(0, 0xFFFFFFFF))
def test_float_words_round_trip(word: int) -> None:
    assert encode_float(decode_float(word)) == word


@pytest.mark.parametrize(
    "pair",
    [
        Medfloat(2047, 0),  # would be read back as NaN
        Medfloat(-2048, 0),  # NRes
        Medfloat(2046, 0),  # +INF
        Medfloat(2048, 0),  # mantissa overflow
        Medfloat(1, 8),  # exponent overflow
        Medfloat(1, -9),  # exponent underflow
    ],
)
def test_sfloat_encoder_refuses_what_would_not_read_back(pair: Medfloat) -> None:
    with pytest.raises(ValueError):
        encode_sfloat(pair)


def test_float_encoder_refuses_out_of_range() -> None:
    with pytest.raises(ValueError):
        encode_float(Medfloat(2**23, 0))
    with pytest.raises(ValueError):
        encode_float(Medfloat(0x7FFFFF, 0))  # NaN code
    with pytest.raises(ValueError):
        encode_float(Medfloat(1, 128))


def test_special_pair_carries_no_number() -> None:
    with pytest.raises(ValueError):
        Medfloat(1, 0, Special.NAN)


def test_of_builds_the_decimal_pair() -> None:
    assert Medfloat.of(5.6, -1) == Medfloat(56, -1)
    assert Medfloat.of(120, 1) == Medfloat(12, 1)
    assert Medfloat.of(0.00095, -5) == Medfloat(95, -5)
    assert Medfloat.of_special(Special.NRES).value is None


@pytest.mark.parametrize("bad", [-1, 0x10000])
def test_sfloat_word_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError):
        decode_sfloat(bad)
