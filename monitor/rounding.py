"""Rounding a rate to three decimals, as the explanations show it and the state keeps it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from monitor.compiled import compiled_only


def plain_round3(x: float) -> float:
    """The definition: Python's round(x, 3)."""
    return round(x, 3)


round3: Final[Callable[[float], float]] = compiled_only("monitor.rounding_fast", "round3") or plain_round3
"""round(x, 3); compiled, away from a tie it is rint(x * 1000) / 1000 in C (monitor/rounding_fast.pyx): ~3,300
instructions a glucose reading less (bench/README.md, seventeenth session)."""
