"""Whole epoch seconds of an event time: the integer the de-duplication index and the rules key readings on."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from typing import Final


def plain_seconds(at: datetime) -> int:
    """The definition: int(at.timestamp()), truncated toward zero."""
    return int(at.timestamp())


def _compiled_seconds() -> Callable[[datetime], int] | None:
    """monitor.epoch_fast.seconds when the compiled hot path is in use (monitor.compiled puts it on the path)."""
    try:
        return importlib.import_module("monitor.epoch_fast").seconds  # type: ignore[no-any-return]
    except ImportError:
        return None


seconds: Final[Callable[[datetime], int]] = _compiled_seconds() or plain_seconds
"""int(at.timestamp()); compiled, a UTC time's fields are read in C (monitor/epoch_fast.pyx): ~2,000 instructions
a call less, twice a glucose reading (bench/README.md, seventeenth session)."""
