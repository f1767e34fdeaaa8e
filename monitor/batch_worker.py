"""The batch worker runtime on plain aiokafka: one transaction per input partition and poll batch (issue 9).

faust's per-event machinery and its 13 per-message transactional producers cost ~0.2 ms per reading
(bench/README.md). Here a poll batch is split by partition; each partition's records run through the pure
`monitor.worker_core`, and the outputs, the changed table values (written once per batch) and the input offsets
go into one transaction of that partition's producer. Its transactional id is per partition, as in faust's
exactly-once mode, so a new owner fences a dead or stalled one and aborts its open transaction. The changelog
topics and their record format are faust's, so both runtimes read the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import TopicAlreadyExistsError

from monitor import topics, worker_core
from monitor.config import Settings
from monitor.security import KafkaSecurity
from monitor.worker_core import Origin, Out, PartitionTables, WorkerCore

log = logging.getLogger(__name__)

PARTITIONS = next(spec.partitions for spec in topics.CONTRACT if spec.name == topics.READINGS)
READY_LINE = "vigil batch worker: ready"
INPUTS = {topics.READINGS: "readings", topics.ACKS: "acks", topics.PATIENT_CONFIG: "patient_config"}


def _seconds(env: str, default: float) -> float:
    return float(os.environ.get(env, default))


class TopicNames:
    """The namespaced topic names of one deployment, the changelogs named as faust names them."""

    def __init__(self, settings: Settings) -> None:
        ns = settings.namespace
        self.kind = {topics.namespaced(base, ns): kind for base, kind in INPUTS.items()}
        self.out = {
            worker_core.ALERTS: topics.namespaced(topics.ALERTS, ns),
            worker_core.SUMMARIES: topics.namespaced(topics.SUMMARIES, ns),
            worker_core.DEADLETTER: topics.namespaced(topics.DEADLETTER, ns),
            worker_core.STATE: f"{settings.worker_group}-patient-state-changelog",
            worker_core.CONFIG: f"{settings.worker_group}-patient-config-changelog",
        }
        self.changelog = {self.out[worker_core.STATE]: worker_core.STATE,
                          self.out[worker_core.CONFIG]: worker_core.CONFIG}


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: BatchWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.worker.release({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.worker.acquire({tp.partition for tp in assigned})


class BatchWorker:
    """Consumes the input topics in one group and commits each partition's batch exactly once."""

    def __init__(self, settings: Settings, core: WorkerCore, *, clock: Callable[[], datetime],
                 tick_seconds: float = 60.0, max_records: int = 2000) -> None:
        self.settings = settings
        self.core = core
        self.clock = clock
        self.names = TopicNames(settings)
        self.group = settings.worker_group
        self.security = KafkaSecurity.from_env().aiokafka()
        self.tick_seconds = tick_seconds
        self.max_records = max_records
        self.cache = worker_core.StateCache()
        self.tables: dict[int, PartitionTables] = {}
        self.producers: dict[int, AIOKafkaProducer] = {}
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.processed = 0

    # -- set-up -------------------------------------------------------------------------------------------------

    async def ensure_changelogs(self) -> None:
        """Creates the two compacted changelog topics when missing (faust declares them the same way)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap, **self.security)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            new = [NewTopic(name, PARTITIONS, 1, topic_configs=dict(topics.COMPACTED))
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
            session_timeout_ms=int(_seconds("BROKER_SESSION_TIMEOUT", 60) * 1000),
            heartbeat_interval_ms=int(_seconds("BROKER_HEARTBEAT_INTERVAL", 3) * 1000),
            max_partition_fetch_bytes=1 << 20, **self.security)

    # -- partitions ---------------------------------------------------------------------------------------------

    async def acquire(self, partitions: set[int]) -> None:
        """Fences the previous owner of each partition (its open transaction is aborted), then restores the
        partition's tables from the changelogs, read_committed, up to their end."""
        async with self.lock:
            new = sorted(partitions - self.producers.keys())
            for p in new:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.bootstrap, transactional_id=f"{self.group}-batch-{p}",
                    acks="all", enable_idempotence=True, linger_ms=5, client_id=f"{self.group}-batch-{p}",
                    **self.security)
                await producer.start()
                await producer.begin_transaction()  # waits for InitProducerId: the fence is in place
                self.producers[p] = producer
            await self._restore(new)
            log.info("assigned partitions %s (restored %d patients)", new,
                     sum(len(self.tables[p].raw) for p in new))

    async def _restore(self, partitions: list[int]) -> None:
        for p in partitions:
            self.tables[p] = PartitionTables(self.cache)
        if not partitions:
            return
        reader = AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap, group_id=None,
                                  enable_auto_commit=False, isolation_level="read_committed", **self.security)
        await reader.start()
        try:
            tps = [TopicPartition(name, p) for name in self.names.changelog for p in partitions]
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            ends = await reader.end_offsets(tps)
            pending = {tp for tp in tps if ends[tp] > 0}
            while pending:
                batch = await reader.getmany(*pending, timeout_ms=500)
                for tp, records in batch.items():
                    table = self.names.changelog[tp.topic]
                    for record in records:
                        if record.key is not None:
                            self.tables[tp.partition].restore(table, record.key.decode(), record.value)
                for tp in list(pending):
                    if await reader.position(tp) >= ends[tp]:
                        pending.discard(tp)
        finally:
            await reader.stop()

    async def release(self, partitions: set[int]) -> None:
        """Revoked: the batch in flight has committed (the lock), so the partition's producer and tables go."""
        async with self.lock:
            for p in sorted(partitions & self.producers.keys()):
                producer = self.producers.pop(p)
                self.tables.pop(p, None)
                try:
                    await producer.abort_transaction()  # the empty one begun after the last commit
                finally:
                    await producer.stop()
            log.info("revoked partitions %s", sorted(partitions))

    # -- the loop -----------------------------------------------------------------------------------------------

    async def _commit(self, p: int, outs: list[Out], offsets: dict[TopicPartition, int]) -> None:
        """Writes a partition's outputs and offsets in its open transaction, commits, and begins the next."""
        producer = self.producers[p]
        outs = outs + self.tables[p].flush()
        for out in outs:
            partition = p if out.topic in (worker_core.STATE, worker_core.CONFIG) else None
            await producer.send(self.names.out[out.topic], out.value, key=out.key, partition=partition)
        if offsets:
            await producer.send_offsets_to_transaction(offsets, self.group)
        await producer.commit_transaction()
        await producer.begin_transaction()

    async def process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        by_partition: dict[int, list[tuple[TopicPartition, list[Any]]]] = defaultdict(list)
        for tp, records in batch.items():
            if tp.partition in self.producers:  # a partition revoked since the poll: its new owner reads it
                by_partition[tp.partition].append((tp, records))
        jobs = []
        for p, items in by_partition.items():
            outs: list[Out] = []
            offsets: dict[TopicPartition, int] = {}
            for tp, records in items:
                kind = self.names.kind[tp.topic]
                outs.extend(worker_core.handle(self.core, self.tables[p], kind, (
                    (r.value if r.value is not None else b"", Origin(tp.topic, p, r.offset)) for r in records)))
                offsets[tp] = records[-1].offset + 1
                self.processed += len(records)
            jobs.append(self._commit(p, outs, offsets))
        await asyncio.gather(*jobs)

    async def tick(self) -> None:
        """The wall-clock check of every owned partition, in its own transaction (no input offset)."""
        now = self.clock()
        jobs = []
        for p, tables in self.tables.items():
            outs = self.core.tick(tables, now)
            if outs or tables.changed:
                jobs.append(self._commit(p, outs, {}))
        await asyncio.gather(*jobs)

    async def run(self) -> None:
        await self.ensure_changelogs()
        consumer = self.consumer = self._consumer()
        consumer.subscribe(list(self.names.kind), listener=_Rebalance(self))
        await consumer.start()
        print(READY_LINE, flush=True)
        next_tick = time.monotonic() + self.tick_seconds
        try:
            while not self.stopping.is_set():
                batch = await consumer.getmany(timeout_ms=100, max_records=self.max_records)
                async with self.lock:
                    if batch:
                        await self.process(batch)
                    if time.monotonic() >= next_tick:
                        next_tick = time.monotonic() + self.tick_seconds
                        await self.tick()
        finally:
            await consumer.stop()  # revokes: the listener aborts the empty transactions and stops the producers
            for p in list(self.producers):
                await self.release({p})


async def run(worker: BatchWorker) -> None:
    """Runs the worker until SIGTERM or SIGINT. A failed transaction ends it with the error (the supervisor
    restarts it, and the new instance restores from the changelog)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stopping.set)
    await worker.run()
