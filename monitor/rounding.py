"""Rounding a rate to three decimals, as the explanations show it and the state keeps it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Final


def plain_round3(x: float) -> float:
    """The definition: Python's round(x, 3)."""
    return round(x, 3)


def _compiled_round3() -> Callable[[float], float] | None:
    """monitor.rounding_fast.round3 when the compiled hot path is in use (monitor.compiled puts it on the path)."""
    try:
        return importlib.import_module("monitor.rounding_fast").round3  # type: ignore[no-any-return]
    except ImportError:
        return None


round3: Final[Callable[[float], float]] = _compiled_round3() or plain_round3
"""round(x, 3); compiled, away from a tie it is rint(x * 1000) / 1000 in C (monitor/rounding_fast.pyx): ~3,300
instructions a glucose reading less (bench/README.md, seventeenth session)."""
