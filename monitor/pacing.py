"""Pure replay pacing: merge patients on event time, keep each patient's order, and say when each item is due."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


class SpeedError(ValueError):
    """Raised for a --speed that is neither `max` nor a positive factor like `100x`."""


def parse_speed(text: str) -> float | None:
    """`max` -> None (no pacing); `100x` or `100` -> 100.0 times real time."""
    cleaned = text.strip().lower()
    if cleaned == "max":
        return None
    try:
        factor = float(cleaned.removesuffix("x"))
    except ValueError as exc:
        raise SpeedError(f"speed must be 'max' or a factor like '100x', not {text!r}") from exc
    if not factor > 0:
        raise SpeedError(f"speed must be positive, not {text!r}")
    return factor


def merge_by_event_time(streams: Iterable[Sequence[T]], event_time: Callable[[T], datetime]) -> Iterator[T]:
    """Interleaves per-patient sequences by event time without reordering any one of them.

    A late item (a backfill recorded after newer ones) keeps its place in its patient's sequence: its
    pacing time is the running maximum of that patient's event times, so it goes out right after its predecessor.
    """
    def paced(index: int, items: Sequence[T]) -> Iterator[tuple[datetime, int, int, T]]:
        latest: datetime | None = None
        for position, item in enumerate(items):
            at = event_time(item)
            latest = at if latest is None or at > latest else latest
            yield latest, index, position, item

    for _, _, _, item in heapq.merge(*(paced(i, s) for i, s in enumerate(streams))):
        yield item


@dataclass
class Pacer:
    """Maps event time to wall time at `speed` x real time; `speed=None` never waits."""

    speed: float | None
    clock: Callable[[], float]  # monotonic seconds
    sleep: Callable[[float], None]
    _event0: datetime | None = None
    _wall0: float = 0.0

    def due_in(self, event_at: datetime) -> float:
        """Seconds to wait before the item at event_at is due (0 when late or at max speed)."""
        if self.speed is None:
            return 0.0
        if self._event0 is None:
            self._event0, self._wall0 = event_at, self.clock()
            return 0.0
        target = self._wall0 + (event_at - self._event0).total_seconds() / self.speed
        return max(0.0, target - self.clock())

    def wait_for(self, event_at: datetime) -> float:
        """Sleeps until event_at is due and returns how long it slept."""
        delay = self.due_in(event_at)
        if delay > 0:
            self.sleep(delay)
        return delay
