"""An in-memory publisher with the ReadingPublisher duck type, for unit tests of the outbox (never Kafka)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class FakeBrokerDownError(ConnectionError):
    """Raised by the fake when it plays a broker outage."""


@dataclass
class FakeFuture:
    """Resolves to the offset, or raises if the fake broker did not acknowledge."""

    offset: int | None
    error: Exception | None = None

    def get(self, timeout: float | None = None) -> int:
        if self.error is not None:
            raise self.error
        assert self.offset is not None
        return self.offset


@dataclass
class FakePublisher:
    """Appends acknowledged records to `log`; `down` refuses sends, `nack_every` fails some acks."""

    down: bool = False
    nack_every: int = 0
    log: list[Any] = field(default_factory=list)
    dead_letters: list[Any] = field(default_factory=list)
    flushes: int = 0
    lookups: int = 0
    _sends: int = 0

    def send(self, record: Any) -> FakeFuture:
        if self.down:
            raise FakeBrokerDownError("fake broker is down")
        self._sends += 1
        if self.nack_every and self._sends % self.nack_every == 0:
            return FakeFuture(None, TimeoutError("fake: no acknowledgement"))
        self.log.append(record)
        return FakeFuture(len(self.log) - 1)

    def send_dead_letter(self, letter: Any) -> FakeFuture:
        self.dead_letters.append(letter)
        return self.send(letter)

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1

    def find_published(self, topic: str, keys: Mapping[str, bytes], since: datetime) -> set[str]:
        """Like the broker read-back: the ids among `keys` this fake has acknowledged."""
        self.lookups += 1
        if self.down:
            raise FakeBrokerDownError("fake broker is down")
        return {r.reading_id for r in self.log if getattr(r, "reading_id", None) in keys}
