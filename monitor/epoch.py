"""Whole epoch seconds of an event time: the integer the de-duplication index and the rules key readings on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from monitor.compiled import compiled_only


def plain_seconds(at: datetime) -> int:
    """The definition: int(at.timestamp()), truncated toward zero."""
    return int(at.timestamp())


seconds: Final[Callable[[datetime], int]] = compiled_only("monitor.epoch_fast", "seconds") or plain_seconds
"""int(at.timestamp()); compiled, a UTC time's fields are read in C (monitor/epoch_fast.pyx): ~2,000 instructions
a call less, twice a glucose reading (bench/README.md, seventeenth session)."""
