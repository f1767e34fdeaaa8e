"""Outbox: durable before publish, sent only on ack, in order after an outage, bounded and counted."""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_gateway.fake_publisher import FakeFuture, FakePublisher
from device_gateway.outbox import Enqueued, Outbox, OutboxLimits, Overflow
from monitor.records import DeadLetter, Reading, ReadingKind, Source, reading_id_for

R = "vigil.readings.v1"
D = "vigil.deadletter.v1"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


def reading(seq: int, value: float = 100.0) -> Reading:
    measured = T0 + timedelta(minutes=5 * seq)
    return Reading(
        reading_id=reading_id_for("dev-1", "cgm", seq, measured),
        patient_key="pk_" + "0" * 32,
        device_id="dev-1",
        kind=ReadingKind.CGM,
        value=value,
        unit="mg/dL",
        measured_at=measured,
        received_at=measured,
        source=Source.BLE,
        sequence=seq,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Outbox:
    return Outbox(tmp_path / "outbox.db", now=clock)


def test_records_are_sent_in_order_and_marked_sent(outbox: Outbox) -> None:
    pub = FakePublisher()
    for i in range(5):
        assert isinstance(outbox.enqueue(R, reading(i)), Enqueued)
    result = outbox.drain(pub)
    assert result.sent == 5 and result.error is None
    assert [r.sequence for r in pub.log] == [0, 1, 2, 3, 4]
    assert outbox.stats().pending == 0
    assert outbox.drain(pub).sent == 0
    assert len(pub.log) == 5


def test_duplicate_reading_ids_are_ignored_even_after_sending(outbox: Outbox) -> None:
    pub = FakePublisher()
    assert outbox.enqueue(R, reading(1)) == Enqueued(reading(1).reading_id, True)
    outbox.drain(pub)
    assert outbox.enqueue(R, reading(1)) == Enqueued(reading(1).reading_id, False)
    outbox.drain(pub)
    assert len(pub.log) == 1


def test_broker_down_piles_up_then_sends_in_order(outbox: Outbox) -> None:
    pub = FakePublisher(down=True)
    for i in range(10):
        outbox.enqueue(R, reading(i))
    result = outbox.drain(pub)
    assert result.sent == 0 and result.error is not None
    assert outbox.stats().pending == 10
    pub.down = False
    assert outbox.drain(pub).sent == 10
    assert [r.sequence for r in pub.log] == list(range(10))


def test_unacknowledged_records_stay_pending(outbox: Outbox) -> None:
    pub = FakePublisher(nack_every=3)
    for i in range(6):
        outbox.enqueue(R, reading(i))
    first = outbox.publish_pending(pub)
    assert first.sent == 4 and first.failed == 2
    assert outbox.stats().pending == 2
    pub.nack_every = 0
    outbox.drain(pub)
    assert outbox.stats().pending == 0
    assert sorted(r.sequence for r in pub.log) == list(range(6))


def test_pending_survives_a_reopen(tmp_path: Path, clock: Clock) -> None:
    box = Outbox(tmp_path / "o.db", now=clock)
    box.enqueue_many([(R, reading(i)) for i in range(3)])
    box.close()
    again = Outbox(tmp_path / "o.db", now=clock)
    pub = FakePublisher()
    assert again.drain(pub).sent == 3


def test_dead_letters_go_through_send_dead_letter(outbox: Outbox) -> None:
    pub = FakePublisher()
    dl = DeadLetter.of(b"\x01\x02", source="ble:dev-1", stage="decode", reason="truncated", at=T0)
    outbox.enqueue(R, reading(1))
    outbox.enqueue(D, dl)
    outbox.drain(pub)
    assert pub.dead_letters == [dl] and len(pub.log) == 2


def test_overflow_is_explicit_logged_and_counted(tmp_path: Path, clock: Clock,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(tmp_path / "o.db", limits=OutboxLimits(max_pending=5, warn_ratio=0.6), now=clock)
    with caplog.at_level(logging.WARNING, logger="device_gateway.outbox"):
        results = box.enqueue_many([(R, reading(i)) for i in range(7)])
    assert [type(r) for r in results] == [Enqueued] * 5 + [Overflow] * 2
    stats = box.stats()
    assert stats.overflowed == 2 and stats.pending == 5 and stats.warnings == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("nearing its bound" in m for m in messages)
    assert sum("outbox overflow" in m for m in messages) == 2


def test_age_bound_drops_old_pending_rows_with_a_count(outbox: Outbox, clock: Clock) -> None:
    outbox.enqueue(R, reading(1))
    clock.t = T0 + timedelta(days=8)
    outbox.enqueue(R, reading(2))
    stats = outbox.stats()
    assert stats.dropped == 1 and stats.pending == 1


def test_sent_rows_are_pruned_after_keep_sent(outbox: Outbox, clock: Clock) -> None:
    pub = FakePublisher()
    outbox.enqueue(R, reading(1))
    outbox.drain(pub)
    assert outbox.stats().sent == 1
    clock.t = T0 + timedelta(days=3)
    assert outbox.expire() == 0
    assert outbox.stats().sent == 0



class LostAckPublisher(FakePublisher):
    """The broker appends every record but no acknowledgement comes back (the gateway died, or the ack got lost)."""

    def send(self, record: object) -> FakeFuture:
        self.log.append(record)
        return FakeFuture(None, TimeoutError("fake: ack lost"))


def test_rows_whose_ack_was_lost_are_reconciled_not_resent(outbox: Outbox) -> None:
    broker = LostAckPublisher()
    outbox.enqueue_many([(R, reading(i)) for i in range(5)])
    assert outbox.publish_pending(broker).sent == 0
    assert outbox.in_doubt_count() == 5
    outbox.enqueue(R, reading(5))
    healthy = FakePublisher(log=broker.log)
    result = outbox.drain(healthy)
    assert healthy.lookups == 1 and result.sent == 1
    assert [r.sequence for r in healthy.log] == list(range(6))  # each reading exactly once
    assert outbox.stats().pending == 0 and outbox.in_doubt_count() == 0


def test_a_restarted_outbox_reconciles_before_resending(tmp_path: Path, clock: Clock) -> None:
    box = Outbox(tmp_path / "o.db", now=clock)
    box.enqueue_many([(R, reading(i)) for i in range(4)])
    broker = LostAckPublisher()
    box.publish_pending(broker)  # the broker has 0..3; "SIGKILL" before any was marked sent
    del broker.log[2:]  # ... except that 2 and 3 never reached it
    box.close()
    again = Outbox(tmp_path / "o.db", now=clock)
    pub = FakePublisher(log=broker.log)
    assert again.drain(pub).sent == 2
    assert [r.sequence for r in pub.log] == [0, 1, 2, 3]


def test_no_resend_while_the_read_back_fails(outbox: Outbox) -> None:
    outbox.enqueue_many([(R, reading(i)) for i in range(3)])
    outbox.publish_pending(LostAckPublisher())
    down = FakePublisher(down=True)
    result = outbox.drain(down)
    assert result.sent == 0 and result.error is not None and "reconcile" in result.error
    assert outbox.in_doubt_count() == 3


def test_an_outbox_file_without_attempted_at_is_migrated(tmp_path: Path, clock: Clock) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT NOT NULL UNIQUE, "
            "topic TEXT NOT NULL, value BLOB NOT NULL, created_at TEXT NOT NULL, sent_at TEXT, "
            "dropped_at TEXT, dropped_reason TEXT);"
        )
    box = Outbox(path, now=clock)
    box.enqueue(R, reading(1))
    assert box.drain(FakePublisher()).sent == 1
