"""The exactly-once worker on librdkafka (confluent-kafka): one transactional producer per process (KIP-447).

monitor/batch_worker.py needs a producer per input partition, because aiokafka's TxnOffsetCommit carries no
group generation: a transactional id per partition is the only fence there. On this box twelve producers commit
~150 transactions a second at 1,000 readings/s and the broker's transaction work is most of the latency
(bench/README.md). librdkafka speaks KIP-447: the offsets carry the consumer group generation, so a worker that
lost its partitions is fenced by the group coordinator, and a read_committed consumer fetches offsets with
require_stable, so a new owner waits until the old owner's open transaction is committed or aborted. One
producer then carries every partition's outputs, changed table values and input offsets per batch.

The loop polls a batch and scores it per partition through the pure `monitor.worker_core`, then queues its
records in a transaction that a second thread commits while the loop polls and scores the next batches
(librdkafka waits without the GIL); what they give goes into the next transaction as soon as that commit is done
(worker_loop.NextTransaction, up to VIGIL_TXN_MAX_RECORDS input records). Rebalance callbacks run inside the
poll and commit both first, so a revoked partition never has uncommitted work. The changelog topics and record
format are faust's, as in batch_worker.

State writes are deferred (worker_core.StateWrites, VIGIL_STATE_WRITE_*): a state record carries the last readings
offset it holds (header `vigil-through`), and each commit of a readings partition carries, as offset metadata, the
oldest readings offset a waiting state does not hold. A new owner restores the changelog, then scores the readings
from that offset up to the committed one into the states that do not hold them, dropping their outputs (committed
the first time). A worker stopped by SIGTERM writes every waiting state first. Another runtime taking over reads
no metadata and would miss what waited: stop rdkafka workers with SIGTERM before switching a group's runtime.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # not in its __all__

from monitor import rdkafka_stats, thread_times, topics, worker_core
from monitor.config import Settings
from monitor.security import KafkaSecurity
from monitor.state_cache import StateCache
from monitor.worker_core import Origin, Out, PartitionTables, StateWrites, WorkerCore
from monitor.worker_loop import (
    RDKAFKA_READY_LINE,
    BusyShare,
    FullCollections,
    LoopStats,
    NextTransaction,
    SpreadTicks,
    TopicNames,
    quick_handoffs,
)

log = logging.getLogger(__name__)


_REFUSED = frozenset({KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
                      KafkaError.SASL_AUTHENTICATION_FAILED})  # no retry helps: stop with the reason


TXN_ATTEMPTS = 5  # calls of one transactional step while its error is retriable
THROUGH_HEADER = "vigil-through"  # on a state record: the last readings offset of its partition the state holds
REPLAY_FROM = "vigil-replay-from="  # offset metadata of a readings partition: where a new owner scores again
SLOW_COMMIT_S = 0.25  # a transaction that takes this long to commit is logged on its own


def replay_metadata(offset: int | None) -> str:
    """The committed offset's metadata: the oldest readings offset a waiting state does not hold, if any."""
    return "" if offset is None else f"{REPLAY_FROM}{offset}"


def replay_start(metadata: str | None) -> int | None:
    """Reads replay_metadata() back; anything else (another runtime's commit, none) means nothing waits."""
    if not metadata or not metadata.startswith(REPLAY_FROM):
        return None
    try:
        return int(metadata[len(REPLAY_FROM):])
    except ValueError:
        log.warning("ignoring unreadable offset metadata %r", metadata)
        return None


def through_of(headers: Any) -> int | None:
    """The `vigil-through` header of a state record (librdkafka gives a list of pairs); None for a writer of
    every change (no header)."""
    for name, value in headers or ():
        if name == THROUGH_HEADER and value:
            try:
                return int(value)
            except ValueError:
                return None
    return None


class TransactionError(RuntimeError):
    """A transaction could not be completed or aborted: the worker stops, a restart restores from the changelog."""


def retried(call: Callable[[], object], what: str, attempts: int = TXN_ATTEMPTS) -> None:
    """Runs one transactional call again while librdkafka calls its error retriable (e.g. a commit that timed out
    and goes on in the background): stopping instead would hold the partitions until the transaction times out."""
    for attempt in range(1, attempts + 1):
        try:
            call()
            return
        except KafkaException as exc:
            error = exc.args[0]
            if attempt == attempts or not error.retriable() or error.txn_requires_abort() or error.fatal():
                raise
            log.warning("%s: %s (retriable, attempt %d of %d)", what, error, attempt, attempts)


def log_statistics(raw: str) -> None:
    """librdkafka's statistics (VIGIL_RDKAFKA_STATS) as one line; an unreadable document is logged, never raised
    into the poll that served it."""
    try:
        log.info(rdkafka_stats.describe(rdkafka_stats.client_window(json.loads(raw))))
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning("unreadable librdkafka statistics (%s: %s)", type(exc).__name__, exc)


def transactional_id(group: str, slot: str | None) -> str:
    """Stable per worker slot (VIGIL_WORKER_SLOT, else host and pid): a restarted slot fences its predecessor at
    once; a new slot's predecessor transaction is aborted by the coordinator after transaction.timeout.ms."""
    return f"{group}-eos-{slot or f'{socket.gethostname()}-{os.getpid()}'}"


class RdkafkaWorker:
    """Consumes the input topics in one group and commits each poll's batch with one transactional producer."""

    def __init__(self, settings: Settings, core: WorkerCore, *, clock: Callable[[], datetime],
                 tick_seconds: float | None = None) -> None:
        self.core = core
        self.clock = clock
        self.names = TopicNames(settings)
        self.group = settings.worker_group
        self.client = KafkaSecurity.from_env().librdkafka() | {"bootstrap.servers": settings.bootstrap}
        self.timing = settings.timing
        # VIGIL_RDKAFKA_STATS, for the worker's consumer and producer: served by their polls, logged there
        self.statistics: dict[str, Any] = {} if self.timing.rdkafka_stats_s <= 0 else {
            "statistics.interval.ms": max(1, int(self.timing.rdkafka_stats_s * 1000)), "stats_cb": log_statistics}
        self.tick_seconds = tick_seconds or self.timing.tick_s
        self.ticks = SpreadTicks(self.tick_seconds, time.monotonic())  # begun again when run() starts its loop
        self.max_records = max(1, int(self.timing.poll_records))  # a turn scores at most these (VIGIL_POLL_RECORDS)
        self.txn_timeout_ms = int(self.timing.txn_timeout_s * 1000)
        self.cache = StateCache()
        self.writes = StateWrites(self.timing.state_write_s, int(self.timing.state_write_records),
                                  int(self.timing.state_write_patients))
        self.readings = next(name for name, kind in self.names.kind.items() if kind == "readings")
        self.tables: dict[int, PartitionTables] = {}
        self.floors: dict[int, int | None] = {}  # per partition, the replay offset in its last commit
        self.stopping = threading.Event()
        self.stats = LoopStats(self.timing.loop_stats_s)
        self.collections = FullCollections(self.timing.gc_full_s)
        self.producer: Producer | None = None
        self.announced = False
        self.pending: Future[None] | None = None  # the transaction being committed on the commit thread
        # scored while `pending` commits: the next transaction
        self.next: NextTransaction[TopicPartition] = NextTransaction(int(self.timing.txn_max_records))
        self.sent_at = 0.0  # time.monotonic() of the last send
        self.record_at = 0.0  # time.monotonic() of the last poll that returned a record
        self.busy = BusyShare(self.timing.spin_busy)  # whether to spin at all (VIGIL_SPIN_BUSY)

    # -- set-up -------------------------------------------------------------------------------------------------

    def ensure_changelogs(self) -> None:
        """Creates the two compacted changelog topics when missing (faust declares them the same way)."""
        admin = AdminClient(self.client)
        existing = set(admin.list_topics(timeout=30).topics)
        new = [NewTopic(name, topics.PARTITIONS, 1, config=dict(topics.COMPACTED))
               for name in self.names.changelog if name not in existing]
        for future in (admin.create_topics(new).values() if new else ()):
            try:
                future.result(timeout=30)
            except KafkaException as exc:  # another worker created it first
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    def _consumer(self) -> Consumer:
        return Consumer(self.client | self.statistics | {
            "group.id": self.group, "client.id": f"{self.group}-eos",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "isolation.level": "read_committed",
            "partition.assignment.strategy": "range",  # the same partition of every input topic
            "session.timeout.ms": int(self.timing.session_timeout_s * 1000),
            "heartbeat.interval.ms": int(self.timing.heartbeat_interval_s * 1000),
            "fetch.wait.max.ms": int(self.timing.fetch_max_wait_s * 1000),
            "fetch.min.bytes": int(self.timing.fetch_min_bytes),
            "max.partition.fetch.bytes": 1 << 20,
            # an assignment restores the changelog and scores the waiting readings again inside the poll (up to
            # VIGIL_STATE_WRITE_RECORDS a partition); librdkafka's 5 minutes could evict a worker doing that
            "max.poll.interval.ms": 600_000,
        })

    def _producer(self) -> Producer:
        return Producer(self.client | self.statistics | {
            "transactional.id": transactional_id(self.group, self.timing.slot), "client.id": f"{self.group}-eos",
            "enable.idempotence": True, "acks": "all", "linger.ms": 2,
            "transaction.timeout.ms": self.txn_timeout_ms,
            # AddPartitionsToTxn is refused (CONCURRENT_TRANSACTIONS) while the broker still writes the previous
            # transaction's markers; librdkafka retries after retry.backoff.ms, 100 ms by default
            "retry.backoff.ms": max(1, int(self.timing.txn_retry_backoff_s * 1000)),
            # and doubles it per retry up to retry.backoff.max.ms (1 s by default): a worker's first transactions
            # waited up to 1.2 s for it
            "retry.backoff.max.ms": max(1, int(self.timing.txn_retry_backoff_s * 1000),
                                        int(self.timing.txn_retry_backoff_max_s * 1000)),
            "partitioner": "murmur2_random",  # Java's, kafka-python's and aiokafka's: a key keeps its partition
        })

    # -- partitions ---------------------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        """Waits for the previous owner's open transaction (the offset fetch is require_stable), then restores
        the new partitions' tables from the changelogs, read_committed, up to their stable end."""
        self._commit_scored(consumer)
        new = sorted({tp.partition for tp in assigned} - self.tables.keys())
        if not new:
            self._ready()
            return
        committed = consumer.committed(assigned, timeout=max(60.0, 3 * self.txn_timeout_ms / 1000))
        ends = {tp.partition: (tp.offset, replay_start(tp.metadata)) for tp in committed
                if tp.topic == self.readings and tp.partition in new}
        tables, held = self._restore(new)
        replayed = self._replay(tables, held, ends)
        self.tables.update(tables)
        self.floors.update({p: start for p, (_, start) in ends.items()})  # what the last commit says
        self.collections.freeze()  # the restored tables are long-lived: no later collection walks them
        log.info("assigned partitions %s (restored %d patients, scored %d readings again)", new,
                 sum(len(t.raw) for t in tables.values()), replayed)
        self._ready()

    def _ready(self) -> None:
        """Printed once the first assignment is restored: readings sent from now on are scored without delay."""
        if not self.announced:
            self.announced = True
            print(RDKAFKA_READY_LINE, flush=True)

    def _on_revoke(self, consumer: Consumer, revoked: list[TopicPartition]) -> None:
        """Every scored batch is committed first; the tables go with the partition."""
        self._commit_scored(consumer)
        for p in sorted({tp.partition for tp in revoked}):
            self.tables.pop(p, None)  # a waiting state goes too: the next owner scores its readings again
            self.floors.pop(p, None)
        if revoked:
            log.info("revoked partitions %s", sorted({tp.partition for tp in revoked}))

    def _reader(self) -> Consumer:
        return Consumer(self.client | {
            "group.id": f"{self.group}-restore", "enable.auto.commit": False, "isolation.level": "read_committed",
            "enable.partition.eof": True, "client.id": f"{self.group}-restore",
            "auto.offset.reset": "earliest"})  # a replay offset gone by retention: from the oldest kept

    @staticmethod
    def _read(reader: Consumer, tps: list[TopicPartition], ends: dict[tuple[str, int], int] | None = None,
              ) -> Iterator[Message]:
        """Every committed record of `tps` from their offsets up to the end (or to `ends`, exclusive)."""
        reader.assign(tps)
        pending = {(tp.topic, tp.partition) for tp in tps}
        try:
            while pending:
                # poll() returns at the first record; consume(n, 0.05) would wait out the 50 ms for fewer than n
                first = reader.poll(0.05)
                batch = [] if first is None else [first, *reader.consume(num_messages=9_999, timeout=0)]
                for record in batch:
                    topic, partition, error = record.topic() or "", record.partition() or 0, record.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            pending.discard((topic, partition))
                        elif error.fatal() or error.code() in _REFUSED:
                            raise KafkaException(error)
                        else:  # e.g. a broker connection lost: librdkafka retries on its own
                            log.warning("reading %s/%d: %s", topic, partition, error)
                        continue
                    if (topic, partition) not in pending:
                        continue
                    end, offset = (ends or {}).get((topic, partition)), record.offset() or 0
                    if end is not None and offset >= end - 1:
                        pending.discard((topic, partition))
                        if offset >= end:
                            continue
                    yield record
        finally:
            reader.unassign()

    def _restore(self, partitions: list[int]) -> tuple[dict[int, PartitionTables], dict[int, dict[str, int | None]]]:
        """The partitions' tables from their changelogs, and what readings each restored state holds (its
        `vigil-through` header; worker_core.Held) for the replay."""
        tables = {p: PartitionTables(self.cache, self.writes) for p in partitions}
        held: dict[int, dict[str, int | None]] = {p: {} for p in partitions}
        reader = self._reader()
        try:
            tps = [TopicPartition(name, p, OFFSET_BEGINNING) for name in self.names.changelog for p in partitions]
            for record in self._read(reader, tps):
                topic, partition = record.topic() or "", record.partition() or 0
                try:
                    key = topics.key_of_changelog(record.key() or b"")
                except ValueError as exc:  # not a table record: kept on the topic, skipped here
                    log.warning("%s/%d: skipping a record at offset %s: %s", topic, partition, record.offset(), exc)
                    continue
                table, value = self.names.changelog[topic], record.value()
                tables[partition].restore(table, key, value)
                if table == worker_core.STATE and value is None:
                    held[partition].pop(key, None)
                elif table == worker_core.STATE:
                    held[partition][key] = through_of(record.headers())
        finally:
            reader.close()
        return tables, held

    def _replay(self, tables: dict[int, PartitionTables], held: dict[int, dict[str, int | None]],
                ends: dict[int, tuple[int, int | None]]) -> int:
        """Scores the readings from each partition's replay offset up to its committed one into the restored
        states that do not hold them yet; their outputs were committed the first time and are dropped."""
        for p, (end, _) in ends.items():
            tables[p].head = end - 1 if end >= 0 else -1
        starts = {p: (start, end) for p, (end, start) in ends.items() if start is not None and start < end}
        replayed = 0
        if starts:
            log.info("scoring the readings of waiting states again: %s", ", ".join(
                f"partition {p} offsets {start}-{end - 1}" for p, (start, end) in sorted(starts.items())))
            reader = self._reader()
            try:
                tps = [TopicPartition(self.readings, p, start) for p, (start, _) in starts.items()]
                for record in self._read(reader, tps, {(self.readings, p): end for p, (_, end) in starts.items()}):
                    p, offset = record.partition() or 0, record.offset() or 0
                    _, millis = record.timestamp()
                    at = datetime.fromtimestamp(millis / 1000, UTC) if millis > 0 else self.clock()
                    self.core.reading(tables[p], record.value() or b"", Origin(self.readings, p, offset), at,
                                      replaying=held[p])
                    replayed += 1
            finally:
                reader.close()
        return replayed

    # -- the loop -----------------------------------------------------------------------------------------------

    def _poll(self, consumer: Consumer, timeout: float) -> list[Message]:
        """Blocks up to `timeout` for the first record, then takes what is already fetched (no waiting for a full
        batch: that would be latency)."""
        first, timeout = self._spin(consumer, timeout) if self._spinning() else (None, timeout)
        if first is None and timeout > 0:
            first = consumer.poll(timeout)
        if first is None:
            return []
        self.record_at = time.monotonic()
        _, millis = first.timestamp()
        if millis > 0:
            self.stats.polled(max(0.0, time.time() - millis / 1000))
        return [first, *consumer.consume(num_messages=self.max_records - 1, timeout=0)]

    def _spinning(self) -> bool:
        """Whether the loop spins between fetches now: VIGIL_SPIN_SECONDS is set and the loop is busy enough."""
        return self.timing.spin_s > 0 and self.busy.spinning

    def _spin(self, consumer: Consumer, timeout: float) -> tuple[Message | None, float]:
        """Polls without blocking until a record comes, the gathered transaction may be sent or `timeout` passes
        (then no more waiting), or VIGIL_SPIN_SECONDS have passed since the last record (then the caller blocks
        for what is left of `timeout`): returns the record, if any, and the seconds left to block.

        A core that halts between two fetches scores the next batch slower: on the bench's VM the loop scored a
        paced reading for ~44-59 us halting and ~31-41 us spinning, and in process 1 ms asleep before a poll cost
        as much as 10 ms (bench/README.md, twenty-fourth session). Spinning keeps the core busy instead.
        """
        began = now = time.monotonic()
        until = self.record_at + self.timing.spin_s
        while now < until:
            first = consumer.poll(0)
            now = time.monotonic()
            if first is not None or (self.next and self._may_send()) or now - began >= timeout:
                return first, 0.0
            os.sched_yield()  # librdkafka's threads share this core: the ones that fetch and commit go first
        return None, max(0.0, timeout - (now - began))

    def _score(self, messages: list[Message]) -> tuple[list[tuple[int, Out]], list[TopicPartition]]:
        by_partition: dict[tuple[str, int], list[tuple[bytes, int]]] = {}
        for m in messages:
            error, topic, partition, offset = m.error(), m.topic(), m.partition(), m.offset()
            if error is not None or topic is None or partition is None or offset is None:
                log.warning("consumer error (no record consumed): %s", error)  # e.g. a topic not authorized
                continue
            by_partition.setdefault((topic, partition), []).append((m.value() or b"", offset))
        outs: list[tuple[int, Out]] = []
        offsets: list[TopicPartition] = []
        for (topic, partition), batch in by_partition.items():
            tables = self.tables.get(partition)
            if tables is None:  # not ours any more (cannot happen between polls): its owner reads it again
                continue
            kind = self.names.kind[topic]
            outs.extend((partition, out) for out in worker_core.handle(self.core, tables, kind, (
                (value, Origin(topic, partition, offset)) for value, offset in batch)))
            offsets.append(TopicPartition(topic, partition, batch[-1][1] + 1))
        return outs, offsets

    def _flush(self, outs: list[tuple[int, Out]], offsets: list[TopicPartition], everything: bool = False,
               ) -> tuple[list[tuple[int, Out]], list[TopicPartition]]:
        """Adds the due state writes, and to each readings offset the replay offset after them; a partition whose
        replay offset moved without new readings commits its offset again with the new one."""
        wall = self.clock()
        keep, now = self.core.keeps(wall), wall.timestamp()
        for partition, tables in self.tables.items():
            outs.extend((partition, out) for out in tables.flush(now, everything, keep))
        committed = {tp.partition: i for i, tp in enumerate(offsets) if tp.topic == self.readings}
        for partition, tables in self.tables.items():
            floor = tables.replay_from()
            if partition in committed:
                i = committed[partition]
                offsets[i] = TopicPartition(self.readings, partition, offsets[i].offset,
                                            metadata=replay_metadata(floor))
            elif floor != self.floors.get(partition) and tables.head >= 0:
                offsets.append(TopicPartition(self.readings, partition, tables.head + 1,
                                              metadata=replay_metadata(floor)))
            self.floors[partition] = floor
        return outs, offsets

    def _tick(self) -> list[tuple[int, Out]]:
        """The wall-clock checks due in this turn (SpreadTicks: every patient once a period, a slice a turn)."""
        due = self.ticks.due(time.monotonic(), self._patients)
        if not due:
            return []
        now = self.clock()
        by_partition: dict[int, list[str]] = {}
        for partition, key in due:
            by_partition.setdefault(partition, []).append(key)
        return [(p, out) for p, keys in by_partition.items() if (tables := self.tables.get(p)) is not None
                for out in self.core.tick(tables, now, keys)]  # a partition revoked since the round began: skipped

    def _patients(self) -> list[tuple[int, str]]:
        return [(p, key) for p, tables in self.tables.items() for key in tables.patients()]

    def _send(self, outs: list[tuple[int, Out]]) -> None:
        """Opens a transaction and queues its records: the outputs and the changed table values."""
        producer = self.producer
        assert producer is not None
        producer.begin_transaction()
        names = self.names.out
        for partition, out in outs:
            if out.topic == worker_core.STATE and out.through is not None:
                producer.produce(names[out.topic], out.value, out.key, partition=partition,
                                 headers=[(THROUGH_HEADER, str(out.through).encode())])
            elif out.topic in (worker_core.STATE, worker_core.CONFIG):
                producer.produce(names[out.topic], out.value, out.key, partition=partition)
            else:
                producer.produce(names[out.topic], out.value, out.key)
        producer.poll(0)  # serves the client's events (errors); never blocks

    def _finish(self, offsets: list[TopicPartition], group: Any, records: int, score_s: float) -> None:
        """Adds the input offsets and commits (on the commit thread, while the loop scores the next batch).

        No timeout is passed: librdkafka then blocks for the rest of transaction.timeout.ms, as it recommends.
        """
        producer = self.producer
        assert producer is not None
        began = time.perf_counter()
        sent_offsets = began
        try:
            if offsets:
                retried(lambda: producer.send_offsets_to_transaction(offsets, group), "sending the offsets")
                sent_offsets = time.perf_counter()
            retried(producer.commit_transaction, "committing")
        except KafkaException as exc:
            error = exc.args[0]
            if not error.txn_requires_abort():
                raise TransactionError(f"transaction failed: {error}") from exc
            try:  # e.g. fenced by the group: another worker owns the partitions now
                retried(producer.abort_transaction, "aborting")
            except KafkaException as failed:
                raise TransactionError(f"transaction failed: {error}; the abort failed too: {failed.args[0]}"
                                       ) from exc
            raise TransactionError(f"transaction aborted: {error}") from exc
        took = time.perf_counter() - began
        if took >= SLOW_COMMIT_S:  # one such commit in a worker's first seconds made p99 (bench/README)
            log.info("slow transaction: %.0f ms to commit, %.0f ms of it sending %d offsets; %d readings",
                     1000 * took, 1000 * (sent_offsets - began), len(offsets), records)
        self.stats.txn(records, score_s, took)

    def _settle(self) -> None:
        """Waits for the transaction in flight; its failure stops the worker (raised here, in the loop)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def _gather(self, outs: list[tuple[int, Out]], offsets: list[TopicPartition], records: int,
                score_s: float) -> None:
        self.next.add(outs, (((tp.topic, tp.partition), tp) for tp in offsets), records, score_s)

    def _send_next(self, consumer: Consumer, committer: ThreadPoolExecutor | None) -> None:
        """Sends what was gathered as one transaction, committed on the commit thread (or here, without one);
        the previous transaction must be settled."""
        outs, offsets, records, score_s = self.next.take()
        self._send(outs)
        self.sent_at = time.monotonic()
        group = consumer.consumer_group_metadata()
        if committer is None:
            self._finish(offsets, group, records, score_s)
        else:
            self.pending = committer.submit(self._finish, offsets, group, records, score_s)

    def _may_send(self) -> bool:
        """Whether the previous transaction is committed and the least interval between two has passed (each
        transaction costs the broker a marker on every partition it wrote: fewer, larger ones under load)."""
        return ((self.pending is None or self.pending.done())
                and time.monotonic() - self.sent_at >= self.timing.txn_min_interval_s)

    def _commit_scored(self, consumer: Consumer) -> None:
        """Waits for the transaction in flight, then commits what was scored since, here (a rebalance, a stop)."""
        self._settle()
        if self.next:
            self._send_next(consumer, None)

    def _write_waiting(self, consumer: Consumer) -> None:
        """On a stop: every waiting state is written, so the next owner has nothing to score again."""
        outs, offsets = self._flush([], [], everything=True)
        written = sum(1 for _, out in outs if out.topic == worker_core.STATE)
        self._gather(outs, offsets, 0, 0.0)
        self._commit_scored(consumer)
        if written:
            log.info("wrote %d waiting states before stopping", written)

    def run(self) -> None:
        quick_handoffs(self.timing.gil_switch_s)  # the commit thread gets the GIL back soon while the loop scores
        self.collections.install()
        self.ensure_changelogs()
        self.producer = self._producer()
        self.producer.init_transactions(60)  # fences a predecessor of this slot, aborting its open transaction
        consumer = self._consumer()
        consumer.subscribe(list(self.names.kind), on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_revoke)
        self.ticks = SpreadTicks(self.tick_seconds, time.monotonic())
        self.stats.watch(functools.partial(thread_times.read, threading.get_native_id()))  # this thread: the loop's
        committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-commit")
        try:
            ended = time.perf_counter()  # the last turn's end
            while not self.stopping.is_set():
                # while scored records wait for a commit or the least interval, look back soon: they go then
                polling = time.perf_counter()
                messages = self._poll(consumer, 0.005 if self.next else 0.1)
                began, began_cpu = time.perf_counter(), time.thread_time()
                outs, offsets = self._score(messages)
                outs.extend(self._tick())  # the wall-clock checks due now: a slice of every patient a period
                outs, offsets = self._flush(outs, offsets)  # the states a tick changed go in its transaction
                scored = time.perf_counter() - began
                self._gather(outs, offsets, len(messages), scored)
                self.stats.turn(len(messages), scored, time.thread_time() - began_cpu, began - ended, began - polling)
                ended = began + scored
                waited = 0.0
                # else score more while the broker commits the previous transaction
                if not self.next or self.next.full() or self._may_send():
                    if self.next:
                        waiting = time.perf_counter()
                        self._settle()
                        waited = time.perf_counter() - waiting
                        self.stats.waited(waited)
                        self._send_next(consumer, committer)
                    collected = self.collections.collect()  # while the commit thread waits for the broker
                    if collected is not None:
                        self.stats.collected(*collected)
                if self.busy.worked(time.perf_counter() - began - waited):  # a window closed: once a second
                    self.stats.busy(self.busy.share, self._spinning())
            self._settle()
            self._write_waiting(consumer)
        finally:
            committer.shutdown(wait=True)
            with contextlib.suppress(KafkaException, RuntimeError):
                consumer.close()  # leaves the group: the partitions go to the others at once
            with contextlib.suppress(KafkaException):  # after a fatal error (fenced) nothing is left to send
                self.producer.flush(10)


def run(worker: RdkafkaWorker) -> int:
    """Runs the worker until SIGTERM or SIGINT (the current batch is committed first); returns the exit status.
    A failed transaction (e.g. fenced after a stall: its partitions have a new owner) is logged and ends it with 1,
    and the supervisor restarts it; the new instance restores from the changelog."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stopping.set())
    try:
        worker.run()
    except TransactionError as exc:
        log.error("stopping: %s (a restart restores from the changelog)", exc)
        return 1
    return 0

