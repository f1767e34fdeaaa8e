"""IEEE 11073-20601 SFLOAT/FLOAT codec: exact decimal mantissa-exponent pairs; specials are never numbers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Special(StrEnum):
    """The 11073 special values; each becomes a reading's value_status, never a number."""

    NAN = "nan"
    NRES = "nres"
    POSITIVE_INFINITY = "positive_infinity"
    NEGATIVE_INFINITY = "negative_infinity"
    RESERVED = "reserved"


# Whole-word codes (exponent 0) of the specials.
SFLOAT_SPECIALS: Final[dict[int, Special]] = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POSITIVE_INFINITY,
    0x0802: Special.NEGATIVE_INFINITY,
    0x0801: Special.RESERVED,
}
FLOAT_SPECIALS: Final[dict[int, Special]] = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x007FFFFE: Special.POSITIVE_INFINITY,
    0x00800002: Special.NEGATIVE_INFINITY,
    0x00800001: Special.RESERVED,
}
_SFLOAT_CODES: Final = {v: k for k, v in SFLOAT_SPECIALS.items()}
_FLOAT_CODES: Final = {v: k for k, v in FLOAT_SPECIALS.items()}


@dataclass(frozen=True, slots=True)
class Medfloat:
    """A decimal mantissa * 10**exponent as the device sent it, or a special value with no number.

    Keeping the pair (not a binary float) makes encode(decode(x)) == x exact for every bit pattern.
    For a special value, mantissa and exponent are 0.
    """

    mantissa: int = 0
    exponent: int = 0
    special: Special | None = None

    def __post_init__(self) -> None:
        if self.special is not None and (self.mantissa or self.exponent):
            raise ValueError("a special Medfloat carries no mantissa or exponent")

    @property
    def value(self) -> float | None:
        """The number, correctly rounded from the decimal pair; None for a special value."""
        if self.special is not None:
            return None
        scale: int = 10 ** abs(self.exponent)
        return float(self.mantissa * scale) if self.exponent >= 0 else self.mantissa / scale

    @classmethod
    def of(cls, value: float, exponent: int = 0) -> Medfloat:
        """Builds the pair for a number at a chosen decimal exponent (e.g. of(5.6, -1) is 56e-1)."""
        scale: int = 10 ** abs(exponent)
        return cls(round(value * scale if exponent <= 0 else value / scale), exponent)

    @classmethod
    def of_special(cls, special: Special) -> Medfloat:
        return cls(0, 0, special)


def _signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw & (1 << (bits - 1)) else raw


def decode_sfloat(raw: int) -> Medfloat:
    """Decodes a 16-bit SFLOAT word: 4-bit two's-complement exponent, 12-bit two's-complement mantissa."""
    if not 0 <= raw <= 0xFFFF:
        raise ValueError(f"SFLOAT word out of range: {raw:#x}")
    special = SFLOAT_SPECIALS.get(raw)
    if special is not None:
        return Medfloat(0, 0, special)
    return Medfloat(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))


def encode_sfloat(m: Medfloat) -> int:
    """Encodes to a 16-bit SFLOAT word; ValueError when the pair does not fit or would read as a special."""
    if m.special is not None:
        return _SFLOAT_CODES[m.special]
    if not -8 <= m.exponent <= 7:
        raise ValueError(f"SFLOAT exponent out of range: {m.exponent}")
    if not -2048 <= m.mantissa <= 2047:
        raise ValueError(f"SFLOAT mantissa out of range: {m.mantissa}")
    word = ((m.exponent & 0xF) << 12) | (m.mantissa & 0x0FFF)
    if word in SFLOAT_SPECIALS:
        raise ValueError(f"mantissa {m.mantissa} at exponent 0 is an SFLOAT special code")
    return word


def decode_float(raw: int) -> Medfloat:
    """Decodes a 32-bit FLOAT: 8-bit two's-complement exponent, 24-bit two's-complement mantissa."""
    if not 0 <= raw <= 0xFFFFFFFF:
        raise ValueError(f"FLOAT word out of range: {raw:#x}")
    special = FLOAT_SPECIALS.get(raw)
    if special is not None:
        return Medfloat(0, 0, special)
    return Medfloat(_signed(raw & 0xFFFFFF, 24), _signed(raw >> 24, 8))


def encode_float(m: Medfloat) -> int:
    """Encodes to a 32-bit FLOAT; raises ValueError when the pair does not fit or would read as special."""
    if m.special is not None:
        return _FLOAT_CODES[m.special]
    if not -128 <= m.exponent <= 127:
        raise ValueError(f"FLOAT exponent out of range: {m.exponent}")
    if not -(1 << 23) <= m.mantissa <= (1 << 23) - 1:
        raise ValueError(f"FLOAT mantissa out of range: {m.mantissa}")
    word = ((m.exponent & 0xFF) << 24) | (m.mantissa & 0xFFFFFF)
    if word in FLOAT_SPECIALS:
        raise ValueError(f"mantissa {m.mantissa} at exponent 0 is a FLOAT special code")
    return word
