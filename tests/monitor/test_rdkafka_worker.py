"""The rdkafka runtime without a broker: its transactional id, and how one polled batch becomes the outputs and
input offsets of one transaction (confluent-kafka's Message objects are built directly)."""

from __future__ import annotations

import logging
import os
import re
import socket
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from monitor import engine, rdkafka_worker, topics, worker_core
from monitor.config import Settings, WorkerTiming
from monitor.rdkafka_worker import (
    THROUGH_HEADER,
    TXN_ATTEMPTS,
    RdkafkaWorker,
    TransactionError,
    log_statistics,
    replay_metadata,
    replay_start,
    through_of,
    transactional_id,
)
from monitor.records import Alert, from_json, to_json
from monitor.state_cache import StateCache
from monitor.testing import FakeClock, cgm_series
from monitor.worker_core import EVERY_CHANGE, PartitionTables, StateWrites, WorkerCore

NS = "t1"
READINGS = topics.namespaced(topics.READINGS, NS)
DIP = [120, 110, 95, 80, 66, 58, 52, 50, 49, 60]


def test_a_worker_slot_names_the_transactional_id_so_a_restart_fences_its_predecessor():
    assert transactional_id("vigil-monitor", "w0") == "vigil-monitor-eos-w0"
    assert transactional_id("g", "w0") != transactional_id("g", "w1")


def test_without_a_slot_each_process_has_its_own_id():
    assert transactional_id("g", None) == f"g-eos-{socket.gethostname()}-{os.getpid()}"


@pytest.fixture
def make_worker():
    """A worker that owns the given partitions (no client is created until run())."""
    forecaster = engine.default_forecaster()

    def factory(*owned: int, writes: StateWrites = EVERY_CHANGE, timing: WorkerTiming | None = None,
                ) -> RdkafkaWorker:
        core = WorkerCore(clock=FakeClock(), forecaster_for=lambda _key: forecaster)
        worker = RdkafkaWorker(Settings(namespace=NS, timing=timing or WorkerTiming()), core, clock=FakeClock())
        worker.tables = {p: PartitionTables(StateCache(), writes) for p in owned}
        return worker
    return factory


def polled(partition: int, values: list[bytes], first_offset: int = 0) -> list[Message]:
    return [Message(topic=READINGS, partition=partition, offset=first_offset + i, value=v)
            for i, v in enumerate(values)]


def test_a_batch_becomes_alerts_one_state_per_patient_and_the_next_offset_per_partition(make_worker):
    worker = make_worker(2, 5)
    batch = (polled(2, [to_json(r) for r in cgm_series(DIP, patient="p2")], first_offset=40)
             + polled(5, [to_json(r) for r in cgm_series(DIP[:3], patient="p5")], first_offset=7))
    outs, offsets = worker._flush(*worker._score(batch))
    assert sorted((tp.topic, tp.partition, tp.offset) for tp in offsets) == [(READINGS, 2, 50), (READINGS, 5, 10)]
    assert {tp.metadata for tp in offsets} == {""}  # every state written: nothing to score again
    states = [(p, o.key) for p, o in outs if o.topic == worker_core.STATE]
    assert sorted(states) == [(2, topics.changelog_key("p2")), (5, topics.changelog_key("p5"))]
    alerts = [from_json(o.value, Alert) for _, o in outs if o.topic == worker_core.ALERTS]
    assert alerts and {a.patient_key for a in alerts} == {"p2"}


def test_bad_input_is_a_dead_letter_and_a_consumer_error_is_no_record(make_worker):
    worker = make_worker(1)
    batch = [*polled(1, [b"{not json"], first_offset=3),
             Message(topic=READINGS, partition=1, error=KafkaError(KafkaError._TRANSPORT))]
    outs, offsets = worker._score(batch)
    assert [o.topic for _, o in outs] == [worker_core.DEADLETTER]
    assert [(tp.partition, tp.offset) for tp in offsets] == [(1, 4)]  # the bad record is consumed: it has a letter


def test_records_of_a_partition_the_worker_does_not_own_are_neither_scored_nor_committed(make_worker):
    worker = make_worker(1)
    outs, offsets = worker._score(polled(4, [to_json(r) for r in cgm_series(DIP[:2], patient="p4")]))
    assert outs == [] and offsets == []


def test_waiting_states_put_the_replay_offset_into_the_commit_and_a_moved_one_is_committed_again(make_worker):
    worker = make_worker(2, 5, writes=StateWrites(seconds=60.0, records=1000, patients=10))
    batch = (polled(2, [to_json(r) for r in cgm_series(DIP[:3], patient="p2")], first_offset=40)
             + polled(5, [to_json(r) for r in cgm_series(DIP[:3], patient="p5")], first_offset=7))
    outs, offsets = worker._flush(*worker._score(batch))
    assert [o for _, o in outs if o.topic == worker_core.STATE] == []
    assert sorted((tp.partition, tp.offset, tp.metadata) for tp in offsets) == [
        (2, 43, replay_metadata(40)), (5, 10, replay_metadata(7))]
    assert worker._flush([], []) == ([], [])  # nothing moved: no commit
    worker.clock.advance(seconds=60)
    outs, offsets = worker._flush([], [])
    assert sorted((p, o.key, o.through) for p, o in outs) == [(2, b'"p2"', 42), (5, b'"p5"', 9)]
    assert sorted((tp.partition, tp.offset, tp.metadata) for tp in offsets) == [(2, 43, ""), (5, 10, "")]


class ScriptedConsumer:
    """Hands out one scripted result per poll (then nothing) and notes each poll's timeout."""

    def __init__(self, *polls: Message | None, fetched: list[Message] | None = None) -> None:
        self.polls = list(polls)
        self.timeouts: list[float] = []
        self.fetched = fetched or []  # what consume() finds already fetched after a poll's record

    def poll(self, timeout: float) -> Message | None:
        self.timeouts.append(timeout)
        return self.polls.pop(0) if self.polls else None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        taken, self.fetched = self.fetched[:num_messages], self.fetched[num_messages:]
        return taken


@pytest.fixture
def spinning(make_worker):
    """A worker that spins `spin_s` after a record, its last record `ago` seconds back."""

    def factory(spin_s: float, ago: float = 0.0, busy: float = 0.0) -> RdkafkaWorker:
        worker = make_worker(timing=WorkerTiming(spin_s=spin_s, spin_busy=busy))
        worker.record_at = time.monotonic() - ago
        return worker
    return factory


def test_a_spinning_worker_polls_without_blocking_until_a_record_comes(spinning):
    worker, record = spinning(60.0), polled(1, [b"{}"])[0]
    consumer = ScriptedConsumer(None, None, record)
    assert worker._poll(consumer, 0.1) == [record]
    assert consumer.timeouts == [0, 0, 0]
    assert worker.record_at >= time.monotonic() - 1  # the spin window starts again from this record


def test_once_the_spin_window_after_the_last_record_is_over_the_worker_blocks_as_usual(spinning):
    consumer = ScriptedConsumer()
    assert spinning(0.05, ago=10.0)._poll(consumer, 0.1) == []
    assert consumer.timeouts == [0.1]


def test_without_spinning_every_poll_blocks(spinning):
    consumer = ScriptedConsumer()
    worker = spinning(0.0)
    assert worker._poll(consumer, 0.1) == []
    assert consumer.timeouts == [0.1]
    assert worker.busy.spinning and not worker._spinning()  # a busy share of 0 spins at any load, if at all


def test_by_default_a_worker_blocks_while_idle_and_spins_once_its_loop_was_half_busy(make_worker):
    worker = make_worker()
    assert not worker._spinning()
    worker.busy.since -= 1.0
    worker.busy.worked(0.6)
    assert worker._spinning()
    worker.busy.since -= 1.0
    worker.busy.worked(0.2)  # under half the threshold: it stops
    assert not worker._spinning()


def test_a_worker_below_its_busy_share_blocks_and_spins_once_the_loop_was_busy_enough(spinning):
    worker = spinning(60.0, busy=0.5)
    consumer = ScriptedConsumer()
    assert worker._poll(consumer, 0.1) == []
    assert consumer.timeouts == [0.1]  # a fresh loop has worked nothing yet
    worker.busy.since -= 1.0  # a whole window has passed, most of it scoring
    worker.busy.worked(0.8)
    consumer = ScriptedConsumer(None, polled(1, [b"{}"])[0])
    assert len(worker._poll(consumer, 0.1)) == 1
    assert consumer.timeouts == [0, 0]


def test_the_spin_ends_without_blocking_once_the_gathered_transaction_may_be_sent(spinning):
    worker = spinning(60.0)
    worker.next.add([], [((READINGS, 1), TopicPartition(READINGS, 1, 5))], 1, 0.0)  # nothing in flight, sent long ago
    consumer = ScriptedConsumer()
    assert worker._poll(consumer, 0.1) == []
    assert consumer.timeouts == [0]


def test_the_poll_timeout_bounds_the_spin_and_no_blocking_poll_follows(spinning):
    consumer = ScriptedConsumer()
    began = time.monotonic()
    assert spinning(60.0)._poll(consumer, 0.02) == []
    assert time.monotonic() - began >= 0.02
    assert set(consumer.timeouts) == {0}


def test_a_turn_takes_at_most_vigil_poll_records_and_leaves_the_rest_for_the_next(make_worker):
    records = polled(1, [b"{}"] * 7)
    worker = make_worker(timing=WorkerTiming(poll_records=3, spin_s=0))
    consumer = ScriptedConsumer(records[0], records[3], fetched=records[1:3] + records[4:])
    assert worker._poll(consumer, 0.1) == records[:3]
    assert worker._poll(consumer, 0.1) == records[3:6]
    assert make_worker().max_records == 5000


def test_the_replay_offset_and_the_state_header_read_back_and_anything_else_means_none():
    assert replay_start(replay_metadata(1234)) == 1234
    assert [replay_start(m) for m in (replay_metadata(None), None, "faust", "vigil-replay-from=x")] == [None] * 4
    assert through_of([("other", b"1"), (THROUGH_HEADER, b"77")]) == 77
    assert [through_of(h) for h in (None, [], [(THROUGH_HEADER, None)], [(THROUGH_HEADER, b"?")])] == [None] * 4


TIMED_OUT = KafkaError(KafkaError._TIMED_OUT, "commit timed out", retriable=True)
FENCED = KafkaError(KafkaError.INVALID_PRODUCER_EPOCH, "fenced", txn_requires_abort=True)
FATAL = KafkaError(KafkaError._FATAL, "fatal", fatal=True)


class ScriptedProducer:
    """The transactional calls of a producer: each takes the next outcome of its script (None or missing: success)."""

    def __init__(self, **scripts: list[KafkaError | None]) -> None:
        self.scripts = scripts
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        script = self.scripts.get(name, [])
        error = script.pop(0) if script else None
        if error is not None:
            raise KafkaException(error)

    def send_offsets_to_transaction(self, offsets, group, timeout=None):
        self._call("send_offsets")

    def commit_transaction(self, timeout=None):
        self._call("commit")

    def abort_transaction(self, timeout=None):
        self._call("abort")


@pytest.fixture
def committing(make_worker):
    """finish(producer) runs one transaction's end the way the commit thread does, with that producer."""
    def finish(producer: ScriptedProducer) -> RdkafkaWorker:
        worker = make_worker(1)
        worker.producer = producer
        worker._finish([TopicPartition(READINGS, 1, 10)], object(), records=3, score_s=0.001)
        return worker
    return finish


def test_a_retriable_commit_error_is_retried_and_the_transaction_completes(committing):
    producer = ScriptedProducer(commit=[TIMED_OUT, TIMED_OUT])
    worker = committing(producer)
    assert producer.calls == ["send_offsets", "commit", "commit", "commit"]
    assert worker.stats.txns == 1


def test_an_abortable_error_aborts_and_stops_the_worker(committing):
    producer = ScriptedProducer(send_offsets=[FENCED])
    with pytest.raises(TransactionError, match="transaction aborted"):
        committing(producer)
    assert producer.calls == ["send_offsets", "abort"]


def test_a_fatal_error_stops_the_worker_without_an_abort(committing):
    producer = ScriptedProducer(commit=[FATAL])
    with pytest.raises(TransactionError, match="transaction failed"):
        committing(producer)
    assert producer.calls == ["send_offsets", "commit"]


def test_retries_end_after_a_bounded_number_of_attempts(committing):
    producer = ScriptedProducer(commit=[TIMED_OUT] * (TXN_ATTEMPTS + 3))
    with pytest.raises(TransactionError, match="timed out"):
        committing(producer)
    assert producer.calls.count("commit") == TXN_ATTEMPTS


def test_a_failed_abort_is_reported_with_the_error_that_caused_it(committing):
    producer = ScriptedProducer(commit=[FENCED], abort=[FATAL])
    with pytest.raises(TransactionError, match=r"fenced.*the abort failed too"):
        committing(producer)


def test_a_slow_commit_is_logged_with_its_parts_and_a_quick_one_is_not(committing, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="monitor.rdkafka_worker"):
        committing(ScriptedProducer())
        assert "slow transaction" not in caplog.text
        monkeypatch.setattr(rdkafka_worker, "SLOW_COMMIT_S", 0.0)
        committing(ScriptedProducer())
    assert re.search(r"slow transaction: \d+ ms to commit, \d+ ms of it sending 1 offsets; 3 readings", caplog.text)


def test_librdkafka_statistics_are_asked_for_only_with_vigil_rdkafka_stats(make_worker):
    assert make_worker().statistics == {}
    asked = make_worker(timing=WorkerTiming(rdkafka_stats_s=2.5)).statistics
    assert asked == {"statistics.interval.ms": 2500, "stats_cb": log_statistics}


def test_the_loop_logs_its_line_as_often_as_vigil_loop_stats_says(make_worker):
    assert make_worker().stats.every_s == 10.0
    assert make_worker(timing=WorkerTiming(loop_stats_s=1.0)).stats.every_s == 1.0


def test_statistics_are_logged_and_an_unreadable_document_is_a_warning_not_an_error(caplog):
    caplog.set_level(logging.INFO, logger="monitor.rdkafka_worker")
    log_statistics('{"name": "c#consumer-1", "type": "consumer", "brokers": {}}')
    log_statistics("{not json")
    log_statistics('{"name": "c", "brokers": {"b": {"nodeid": "one"}}}')
    assert [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records] == [
        ("INFO", "librdkafka consumer c#consumer-1: no broker connection; 0 records fetched and not yet polled"),
        ("WARNING", "unreadable librdkafka statistics"), ("WARNING", "unreadable librdkafka statistics")]
