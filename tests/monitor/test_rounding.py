"""monitor.rounding: round3 (compiled when built) gives Python's round(x, 3), bit for bit."""

from __future__ import annotations

import math
import random
import struct

import pytest

from monitor import frozen, rounding

COMPILED = rounding.round3 is not rounding.plain_round3


def same(a: float, b: float) -> bool:
    """Equal as bits: signed zeros told apart, NaN equal to NaN."""
    return struct.pack("<d", a) == struct.pack("<d", b)


def test_the_compiled_half_comes_with_the_rest_of_the_hot_path():
    frozen_compiled = frozen.Frozen.__module__ == "monitor.frozen_init"
    assert frozen_compiled == COMPILED


@pytest.mark.parametrize("x", [
    0.0, -0.0, 1.0, -1.0, 0.0005, -0.0005, 0.0015, 0.0025, 2.675, 1.0005, -2.5e-4, -4e-4, 1e-9, -1e-9,
    0.1 + 0.2, 1 / 3, -2 / 3, 8589934.5915, 8589935.0, -8589935.0, 1e300, -1e300, 5e-324, math.inf, -math.inf,
    math.nan, 123456.7895, 0.9995, -0.9995, 3.0 * 0.1005,
])
def test_edges_round_as_python_rounds(x):
    assert same(rounding.round3(x), round(x, 3))


def test_any_float_rounds_as_python_rounds():
    rng = random.Random(3)
    for _ in range(100_000):
        kind = rng.random()
        if kind < 0.4:  # rates as the rules make them: quotients of glucose differences and minutes
            x = (rng.uniform(-400, 400)) / rng.choice((5.0, 10.0, 15.0, 4.95, 9.9, 14.85))
        elif kind < 0.6:  # near a tie
            x = (rng.randrange(-10**7, 10**7) + 0.5) / 1000 + rng.choice((0.0, 1e-12, -1e-12, 1e-9, -1e-9))
        elif kind < 0.8:  # any bit pattern of a finite double
            x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if not math.isfinite(x):
                continue
        else:
            x = rng.uniform(-1e7, 1e7)
        assert same(rounding.round3(x), round(x, 3)), x


def test_an_int_is_rounded_as_python_rounds_an_int():
    assert rounding.round3(7) == 7 and type(rounding.round3(7)) is int  # type: ignore[arg-type]
