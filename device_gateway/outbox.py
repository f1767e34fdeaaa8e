"""Durable SQLite outbox: commit every record first, publish it, mark it sent only after the broker acks."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from monitor.records import DeadLetter, Reading, Record, parse_any, to_json

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    value BLOB NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    dropped_at TEXT,
    dropped_reason TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE sent_at IS NULL AND dropped_at IS NULL;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# attempted_at: when a row was first handed to the producer. A row attempted but not marked sent is "in
# doubt" (the process died, or the ack was lost): the broker may have it. Added to older files in place.
_IN_DOUBT_INDEX = (
    "CREATE INDEX IF NOT EXISTS outbox_in_doubt ON outbox (seq) "
    "WHERE sent_at IS NULL AND dropped_at IS NULL AND attempted_at IS NOT NULL"
)
# Producer and broker clocks may differ a little; the read-back window starts this much earlier.
RECONCILE_SKEW = timedelta(seconds=30)


class SendFuture(Protocol):
    """What kafka-python's send() returns: resolves once the broker acknowledged the record."""

    def get(self, timeout: float | None = None) -> Any: ...


class Publisher(Protocol):
    """The publisher duck type the outbox drives (device_gateway.publisher.ReadingPublisher fits it)."""

    def send(self, reading: Reading) -> SendFuture: ...

    def send_dead_letter(self, letter: DeadLetter) -> SendFuture: ...

    def flush(self, timeout: float | None = None) -> Any: ...


@runtime_checkable
class PublishedLookup(Protocol):
    """Optional publisher capability: which of these reading ids (-> partition key) are on the topic."""

    def find_published(self, topic: str, keys: Mapping[str, bytes], since: datetime) -> set[str]: ...


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    """Bounds: pending rows and pending age; warn at `warn_ratio` of either; keep sent ids for dedup."""

    max_pending: int = 500_000
    max_age: timedelta = timedelta(days=7)
    warn_ratio: float = 0.8
    keep_sent: timedelta = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Enqueued:
    """Committed to the outbox (new=False: a duplicate of a record already there, ignored)."""

    msg_id: str
    new: bool


@dataclass(frozen=True, slots=True)
class Overflow:
    """Refused because the outbox is full: an explicit, logged and counted event, never silent."""

    msg_id: str
    pending: int
    reason: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    """Outcome of one publish pass."""

    sent: int
    failed: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    sent: int
    dropped: int
    overflowed: int
    warnings: int


def message_id(record: Record) -> str:
    """The de-duplication id: a reading's deterministic id; a dead letter's source, stage and bytes."""
    if isinstance(record, Reading):
        return record.reading_id
    if isinstance(record, DeadLetter):
        return f"dl:{record.source}:{record.stage}:{record.raw_b64}:{record.reason}"
    raise TypeError(f"the outbox carries readings and dead letters, not {type(record).__name__}")


class Outbox:
    """The SQLite outbox (WAL, synchronous=FULL); thread-safe so publishing can run in a worker thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        limits: OutboxLimits | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "attempted_at" not in columns:
            self._db.execute("ALTER TABLE outbox ADD COLUMN attempted_at TEXT")
        self._db.execute(_IN_DOUBT_INDEX)
        self._lock = threading.Lock()
        self._limits = limits or OutboxLimits()
        self._now = now
        self._warned = False

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -------------------------------------------------------------------------------------

    def enqueue(self, topic: str, record: Record) -> Enqueued | Overflow:
        """Commits one record durably before anything is published."""
        return self.enqueue_many([(topic, record)])[0]

    def enqueue_many(self, items: Sequence[tuple[str, Record]]) -> list[Enqueued | Overflow]:
        """Commits several records in one transaction (one fsync), in order."""
        results: list[Enqueued | Overflow] = []
        now = self._now().astimezone(UTC).isoformat()
        with self._lock:
            self._expire_locked()
            pending = self._pending_locked()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for topic, record in items:
                    msg_id = message_id(record)
                    if pending >= self._limits.max_pending:
                        results.append(Overflow(msg_id, pending, "outbox full (max_pending)"))
                        continue
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO outbox (msg_id, topic, value, created_at) VALUES (?,?,?,?)",
                        (msg_id, topic, to_json(record), now),
                    )
                    new = cur.rowcount == 1
                    pending += int(new)
                    results.append(Enqueued(msg_id, new))
                overflowed = sum(isinstance(r, Overflow) for r in results)
                if overflowed:
                    self._bump_locked("overflowed", overflowed)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._check_high_water_locked(pending)
        for r in results:
            if isinstance(r, Overflow):
                log.error("outbox overflow: refused %s (%d pending): %s", r.msg_id, r.pending, r.reason)
        return results

    # -- publishing ----------------------------------------------------------------------------------

    def pending(self, limit: int = 1000) -> list[tuple[int, str, bytes]]:
        """The oldest unsent rows, in commit order: (seq, topic, value)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, value FROM outbox WHERE sent_at IS NULL AND dropped_at IS NULL "
                "ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [(int(s), str(t), bytes(v)) for s, t, v in rows]

    def publish_pending(
        self, publisher: Publisher, *, batch: int = 1000, timeout: float = 300.0
    ) -> PublishResult:
        """Sends one batch in order and marks sent exactly the rows the broker acknowledged.

        Waits for every future to resolve (up to `timeout`, which should exceed the producer's delivery
        timeout): a row still in flight inside the producer is never re-sent by the next pass.
        """
        rows = self.pending(batch)
        if not rows:
            return PublishResult(0, 0)
        self._mark_attempted(rows[0][0], rows[-1][0])
        futures: list[tuple[int, SendFuture]] = []
        error: str | None = None
        for seq, _topic, value in rows:
            record = parse_any(value)
            try:
                if isinstance(record, Reading):
                    futures.append((seq, publisher.send(record)))
                elif isinstance(record, DeadLetter):
                    futures.append((seq, publisher.send_dead_letter(record)))
                else:
                    error = f"cannot publish a {type(record).__name__}"
                    break
            except Exception as exc:  # the broker is down or the buffer is full: retry later, in order
                error = f"send failed: {exc!r}"
                break
        if futures:
            try:
                publisher.flush(timeout)
            except Exception as exc:
                error = error or f"flush failed: {exc!r}"
        acked: list[int] = []
        for seq, future in futures:
            try:
                future.get(timeout=timeout)
            except Exception as exc:
                error = error or f"not acknowledged: {exc!r}"
                continue
            acked.append(seq)
        self._mark_sent(acked)
        return PublishResult(sent=len(acked), failed=len(rows) - len(acked), error=error)

    def drain(self, publisher: Publisher, *, batch: int = 1000, timeout: float = 300.0) -> PublishResult:
        """Publishes until nothing is pending or a pass fails; first settles rows in doubt (reconcile)."""
        if isinstance(publisher, PublishedLookup) and self.in_doubt_count():
            try:
                self.reconcile(publisher)
            except Exception as exc:  # unknown what the broker has: sending now could duplicate
                return PublishResult(0, 0, f"reconcile failed: {exc!r}")
        total = 0
        while True:
            result = self.publish_pending(publisher, batch=batch, timeout=timeout)
            total += result.sent
            if result.error is not None or result.sent == 0:
                return PublishResult(total, result.failed, result.error)

    def _mark_attempted(self, first: int, last: int) -> None:
        """Durably notes, before anything leaves, that these pending rows are about to be sent."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "UPDATE outbox SET attempted_at=? WHERE seq BETWEEN ? AND ? AND sent_at IS NULL "
                "AND dropped_at IS NULL AND attempted_at IS NULL",
                (self._now().astimezone(UTC).isoformat(), first, last),
            )
            self._db.execute("COMMIT")

    def in_doubt_count(self) -> int:
        """Rows handed to a producer but never acknowledged to us: the broker may or may not have them."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND dropped_at IS NULL "
                "AND attempted_at IS NOT NULL"
            ).fetchone()
        return int(row[0])

    def reconcile(self, lookup: PublishedLookup) -> int:
        """Marks as sent the in-doubt readings the broker already has; returns how many.

        Exactly once on the readings topic: a reading acknowledged by the broker just before a SIGKILL (or
        whose ack was lost) is found by reading back its patient's partition from the time it was first
        attempted, instead of being sent a second time. Dead letters are not reconciled (at least once).
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, msg_id, topic, value, attempted_at FROM outbox WHERE sent_at IS NULL "
                "AND dropped_at IS NULL AND attempted_at IS NOT NULL ORDER BY seq"
            ).fetchall()
        keys: dict[str, dict[str, bytes]] = {}
        since: dict[str, datetime] = {}
        seq_of: dict[str, int] = {}
        for seq, msg_id, topic, value, attempted in rows:
            record = parse_any(bytes(value))
            if not isinstance(record, Reading):
                continue
            keys.setdefault(topic, {})[msg_id] = record.patient_key.encode()
            at = datetime.fromisoformat(attempted)
            since[topic] = min(since.get(topic, at), at)
            seq_of[msg_id] = int(seq)
        marked: list[int] = []
        for topic, by_id in keys.items():
            found = lookup.find_published(topic, by_id, since[topic] - RECONCILE_SKEW)
            marked += [seq_of[m] for m in found if m in seq_of]
        self._mark_sent(marked)
        if rows:
            log.info("outbox reconcile: %d of %d in-doubt rows already on the broker", len(marked), len(rows))
        return len(marked)

    def _mark_sent(self, seqs: Iterable[int]) -> None:
        params = [(self._now().astimezone(UTC).isoformat(), s) for s in seqs]
        if not params:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("UPDATE outbox SET sent_at=? WHERE seq=?", params)
            self._db.execute("COMMIT")

    # -- bounds and housekeeping ---------------------------------------------------------------------

    def expire(self) -> int:
        """Drops pending rows older than max_age (logged and counted) and prunes old sent rows."""
        with self._lock:
            return self._expire_locked()

    def _expire_locked(self) -> int:
        now = self._now().astimezone(UTC)
        cutoff = (now - self._limits.max_age).isoformat()
        cur = self._db.execute(
            "UPDATE outbox SET dropped_at=?, dropped_reason='expired (max_age)' "
            "WHERE sent_at IS NULL AND dropped_at IS NULL AND created_at < ?",
            (now.isoformat(), cutoff),
        )
        if cur.rowcount:
            self._bump_locked("dropped", cur.rowcount)
            log.error("outbox: %d pending records older than %s dropped (max_age)", cur.rowcount,
                      self._limits.max_age)
        self._db.execute(
            "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
            ((now - self._limits.keep_sent).isoformat(),),
        )
        return int(cur.rowcount)

    def _check_high_water_locked(self, pending: int) -> None:
        oldest = self._db.execute(
            "SELECT MIN(created_at) FROM outbox WHERE sent_at IS NULL AND dropped_at IS NULL"
        ).fetchone()[0]
        age = (self._now().astimezone(UTC) - datetime.fromisoformat(oldest)) if oldest else timedelta(0)
        high = (
            pending >= self._limits.warn_ratio * self._limits.max_pending
            or age >= self._limits.warn_ratio * self._limits.max_age
        )
        if high and not self._warned:
            self._bump_locked("warnings", 1)
            log.warning(
                "outbox nearing its bound: %d pending (max %d), oldest %s old (max %s)",
                pending, self._limits.max_pending, age, self._limits.max_age,
            )
        self._warned = high

    def _pending_locked(self) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND dropped_at IS NULL"
        ).fetchone()
        return int(row[0])

    def _bump_locked(self, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, by, by),
        )

    def stats(self) -> OutboxStats:
        with self._lock:
            pending = self._pending_locked()
            sent = self._db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL").fetchone()[0]
            counters = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        return OutboxStats(
            pending=pending,
            sent=int(sent),
            dropped=int(counters.get("dropped", 0)),
            overflowed=int(counters.get("overflowed", 0)),
            warnings=int(counters.get("warnings", 0)),
        )
