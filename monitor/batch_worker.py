"""The batch worker runtime on plain aiokafka: per input partition a lane that commits its batches (issue 9).

faust's per-event machinery and its 13 per-message transactional producers cost ~0.2 ms per reading
(bench/README.md). Here polled records are queued by partition; each partition's lane runs them through the pure
`monitor.worker_core`, and the outputs, the changed table values (written once per batch) and the input offsets
go into one transaction of that partition's producer. Its transactional id is per partition, as in faust's
exactly-once mode, so a new owner fences a dead or stalled one and aborts its open transaction. The changelog
topics and their record format are faust's, so both runtimes read the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiokafka.producer.sender as aiokafka_sender
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import TopicAlreadyExistsError

from monitor import topics, worker_core
from monitor.changelog_reader import read_committed
from monitor.config import Settings
from monitor.security import KafkaSecurity
from monitor.state_cache import StateCache
from monitor.worker_core import Origin, Out, PartitionTables, WorkerCore
from monitor.worker_loop import READY_LINE, LoopStats, TopicNames

log = logging.getLogger(__name__)



TICK = object()  # a lane item: run the wall-clock check


class Lane:
    """One owned partition: its transactional producer and tables, and the polled batches waiting for it.

    A lane scores everything queued since its last commit and writes it in one transaction, while the other
    lanes and the poll go on; a slow commit therefore makes the next transaction bigger, not the loop slower.
    """

    def __init__(self, worker: BatchWorker, partition: int, producer: AIOKafkaProducer,
                 tables: PartitionTables) -> None:
        self.worker = worker
        self.partition = partition
        self.producer = producer
        self.tables = tables
        self.queue: list[Any] = []
        self.pending = 0  # records queued or being committed
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.closing = False
        self.task = asyncio.create_task(self._run(), name=f"lane-{partition}")

    def put(self, item: Any, records: int = 0) -> None:
        if self.task.done():  # failed: the worker is stopping and the records go to the next owner
            return
        self.queue.append(item)
        self.pending += records
        self.idle.clear()
        self.wake.set()

    async def _run(self) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                if self.queue:
                    items, self.queue = self.queue, []
                    began = time.monotonic()
                    await self._commit(items)
                    rest = self.worker.commit_interval_s - (time.monotonic() - began)
                    if rest > 0 and not self.closing:  # paces the transactions: fewer, bigger ones under load
                        await asyncio.sleep(rest)
                if not self.queue:
                    self.idle.set()
                    if self.closing:
                        return
        except Exception as exc:  # the transaction state is unknown: the worker stops, a restart restores
            self.worker.fail(exc)
            self.idle.set()

    async def _commit(self, items: list[Any]) -> None:
        worker, core, tables = self.worker, self.worker.core, self.tables
        started = time.perf_counter()
        outs: list[Out] = []
        offsets: dict[TopicPartition, int] = {}
        records = 0
        for item in items:
            if item is TICK:
                outs.extend(core.tick(tables, worker.clock()))
                continue
            tp, batch = item
            kind = worker.names.kind[tp.topic]
            outs.extend(worker_core.handle(core, tables, kind, (
                (r.value if r.value is not None else b"", Origin(tp.topic, self.partition, r.offset))
                for r in batch)))
            offsets[tp] = batch[-1].offset + 1
            records += len(batch)
        outs.extend(tables.flush(keep=core.keeps(worker.clock())))
        scored = time.perf_counter()
        if outs or offsets:
            producer = self.producer
            for out in outs:
                partition = self.partition if out.topic in (worker_core.STATE, worker_core.CONFIG) else None
                await producer.send(worker.names.out[out.topic], out.value, key=out.key, partition=partition)
            if offsets:
                await producer.send_offsets_to_transaction(offsets, worker.group)
            await producer.commit_transaction()
            await producer.begin_transaction()
        self.pending -= records
        worker.stats.txn(records, scored - started, time.perf_counter() - scored)
        worker.room.set()

    async def close(self) -> None:
        """Commits what is queued, then stops the producer (the partition was revoked, or the worker stops)."""
        self.closing = True
        self.wake.set()
        if not self.task.done():
            await self.idle.wait()
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        try:
            if self.worker.failed is None:
                await self.producer.abort_transaction()  # the empty one begun after the last commit
        finally:
            await self.producer.stop()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: BatchWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.worker.release({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.worker.acquire({tp.partition for tp in assigned})


class BatchWorker:
    """Consumes the input topics in one group and commits each partition's batches exactly once."""

    def __init__(self, settings: Settings, core: WorkerCore, *, clock: Callable[[], datetime],
                 tick_seconds: float | None = None, max_records: int = 2000, max_pending: int = 20_000) -> None:
        self.settings = settings
        self.core = core
        self.clock = clock
        self.names = TopicNames(settings)
        self.group = settings.worker_group
        self.security = KafkaSecurity.from_env().aiokafka()
        self.timing = settings.timing
        self.tick_seconds = tick_seconds or self.timing.tick_s
        self.max_records = max_records
        self.max_pending = max_pending
        self.commit_interval_s = self.timing.commit_interval_s
        self.cache = StateCache()
        self.lanes: dict[int, Lane] = {}
        self.stopping = asyncio.Event()
        self.room = asyncio.Event()  # set after each commit: the poll may go on when it waited for room
        self.failed: BaseException | None = None
        self.stats = LoopStats(self.timing.loop_stats_s)

    def fail(self, exc: BaseException) -> None:
        log.error("transaction failed, stopping: %s: %s", type(exc).__name__, exc)
        if self.failed is None:
            self.failed = exc
        self.stopping.set()
        self.room.set()

    # -- set-up -------------------------------------------------------------------------------------------------

    async def ensure_changelogs(self) -> None:
        """Creates the two compacted changelog topics when missing (faust declares them the same way)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap, **self.security)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            new = [NewTopic(name, topics.PARTITIONS, 1, topic_configs=dict(topics.COMPACTED))
                   for name in self.names.changelog if name not in existing]
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):  # another worker created it first
                    await admin.create_topics(new)
        finally:
            await admin.close()

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap, group_id=self.group, client_id=f"{self.group}-batch",
            enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
            partition_assignment_strategy=(RangePartitionAssignor,),  # same partition of every input topic
            session_timeout_ms=int(self.timing.session_timeout_s * 1000),
            heartbeat_interval_ms=int(self.timing.heartbeat_interval_s * 1000),
            fetch_max_wait_ms=int(self.timing.fetch_max_wait_s * 1000),
            max_partition_fetch_bytes=1 << 20, **self.security)

    # -- partitions ---------------------------------------------------------------------------------------------

    async def acquire(self, partitions: set[int]) -> None:
        """Fences the previous owner of each partition (its open transaction is aborted), then restores the
        partition's tables from the changelogs, read_committed, up to their end."""
        if self.stopping.is_set():  # leaving the group: the next assignment goes to the others
            return
        new = sorted(partitions - self.lanes.keys())
        producers = {}
        for p in new:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.bootstrap, transactional_id=f"{self.group}-batch-{p}",
                acks="all", enable_idempotence=True, linger_ms=2, client_id=f"{self.group}-batch-{p}",
                **self.security)
            await producer.start()
            await producer.begin_transaction()  # waits for InitProducerId: the fence is in place
            producers[p] = producer
        tables = await self._restore(new)
        for p in new:
            self.lanes[p] = Lane(self, p, producers[p], tables[p])
        log.info("assigned partitions %s (restored %d patients)", new, sum(len(t.raw) for t in tables.values()))

    async def _restore(self, partitions: list[int]) -> dict[int, PartitionTables]:
        tables = {p: PartitionTables(self.cache) for p in partitions}
        if not partitions:
            return tables
        tps = [TopicPartition(name, p) for name in self.names.changelog for p in partitions]
        async with contextlib.aclosing(read_committed(self.settings.bootstrap, tps, self.security)) as batches:
            async for tp, records in batches:
                table = self.names.changelog[tp.topic]
                for record in records:
                    try:
                        key = topics.key_of_changelog(record.key or b"")
                    except ValueError as exc:  # not a table record: kept on the topic, skipped here
                        log.warning("%s: skipping a record at offset %d: %s", tp, record.offset, exc)
                        continue
                    tables[tp.partition].restore(table, key, record.value)
        return tables

    async def release(self, partitions: set[int]) -> None:
        """Revoked: each lane commits what it was given before the partition goes to its new owner."""
        for p in sorted(partitions & self.lanes.keys()):
            try:
                await self.lanes.pop(p).close()
            except Exception as exc:  # e.g. fenced while stalled: the new owner has the partition; close the rest
                self.fail(exc)
        log.info("revoked partitions %s", sorted(partitions))

    # -- the loop -----------------------------------------------------------------------------------------------

    def dispatch(self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Any]]) -> bool:
        """Hands each partition's records to its lane; False when some must be read again (lane not ready)."""
        complete = True
        for tp, records in batch.items():
            if not records:
                continue
            lane = self.lanes.get(tp.partition)
            if lane is not None:
                lane.put((tp, records), len(records))
            elif tp in consumer.assignment():  # assigned, but its lane is still being set up: read it again later
                consumer.seek(tp, records[0].offset)
                complete = False
            # else: revoked since the poll; its new owner reads these records from the committed offset
        return complete

    async def run(self) -> None:
        # aiokafka retries AddPartitionsToTxn after 20 ms when the broker is still writing the previous
        # transaction's markers (CONCURRENT_TRANSACTIONS, KAFKA-5477); with a transaction per batch that wait
        # dominated the latency (one producer, 1-25 records a transaction: 21-35 -> 7-16 ms, bench/README.md).
        # A module constant of aiokafka's, so it is set here, when a worker runs, not when this module is imported.
        aiokafka_sender.BACKOFF_OVERRIDE = self.timing.txn_retry_backoff_s
        await self.ensure_changelogs()
        consumer = self._consumer()
        consumer.subscribe(list(self.names.kind), listener=_Rebalance(self))
        await consumer.start()
        print(READY_LINE, flush=True)
        next_tick = time.monotonic() + self.tick_seconds
        try:
            while not self.stopping.is_set():
                while sum(lane.pending for lane in self.lanes.values()) > self.max_pending:
                    self.room.clear()  # back-pressure: the lanes are behind, wait for a commit
                    await self.room.wait()
                    if self.stopping.is_set():
                        break
                if not self.dispatch(consumer, await consumer.getmany(timeout_ms=100, max_records=self.max_records)):
                    await asyncio.sleep(0.05)  # a lane is being set up (fencing, restore): do not spin on refetches
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.tick_seconds
                    for lane in self.lanes.values():
                        lane.put(TICK)
        finally:
            await self.release(set(self.lanes))
            await consumer.stop()
        if self.failed is not None:
            raise self.failed


async def run(worker: BatchWorker) -> None:
    """Runs the worker until SIGTERM or SIGINT. A failed transaction ends it with the error (the supervisor
    restarts it, and the new instance restores from the changelog)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stopping.set)
    await worker.run()
