"""Restores a newly assigned partition's tables from their changelogs before the faust agents touch them.

faust-streaming 0.15.3 in exactly-once mode takes a changelog partition's end from the consumer's last fetch
(`last_stable_offset`), which is unknown right after an assignment: its recovery then reads nothing (highwater -1
in the worker log), and a worker that takes over a partition scores it from empty or stale states (a duplicated
`open`, a lost `resolved`: tests/integration/test_scale_out.py). Here each assignment's new partitions have
their keys dropped from the tables and read again, read_committed, to their stable end
(`changelog_reader.read_committed`, as the batch runtime restores), in faust's rebalance callback; an agent
handed an event of a partition whose restore has not finished waits for it. A partition the worker kept through
a rebalance keeps its tables: faust committed everything it had scored before the rebalance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import TopicPartition

log = logging.getLogger(__name__)

ATTEMPTS = 5
RETRY_S = 1.0


class Assigned(Protocol):
    topic: str
    partition: int


Reader = Callable[[list[TopicPartition]], AsyncGenerator[tuple[TopicPartition, list[Any]]]]


class RestoreError(RuntimeError):
    """A partition's tables could not be read back: scoring it from empty states would be wrong."""


@dataclass(frozen=True)
class RestoredTable:
    """One faust table as the restore sees it: its changelog topic, its local store, how its keys decode."""

    changelog: str
    data: MutableMapping[str, Any]
    key_of: Callable[[bytes], str]
    value_of: Callable[[bytes], Any] = lambda raw: raw


@dataclass
class PartitionRestore:
    """Which partitions are newly ours, and their restores (started in the rebalance callback, or else by the first
    event that needs one)."""

    tables: list[RestoredTable]
    inputs: frozenset[str]  # the co-partitioned input topics whose partitions the agents score
    partition_of: Callable[[str], int]
    read: Reader
    owned: set[int] = field(default_factory=set)
    pending: dict[int, asyncio.Future[None] | None] = field(default_factory=dict)  # None: not started yet

    def assigned(self, tps: Iterable[Assigned]) -> None:
        """A new assignment: partitions gone are forgotten (their restore stopped), new ones wait for one."""
        now = {tp.partition for tp in tps if tp.topic in self.inputs}
        for p in self.owned - now:
            task = self.pending.pop(p, None)
            if task is not None:
                task.cancel()  # it restored others with it: those start again
                for other, shared in self.pending.items():
                    if shared is task:
                        self.pending[other] = None
        for p in now - self.owned:
            self.pending[p] = None
        self.owned = now

    async def restore_assigned(self, tps: Iterable[Assigned]) -> None:
        """A new assignment, and the restore of its new partitions at once (faust awaits this in its rebalance
        callback, so the agents seldom have to wait at an event, which they may be handed before faust's own
        recovery has sought their partitions to the committed offsets)."""
        self.assigned(tps)
        waiting = next((p for p, task in self.pending.items() if task is None), None)
        if waiting is not None:
            await self.ready(waiting)

    async def ready(self, partition: int) -> None:
        """Returns once `partition`'s tables hold what its changelogs committed (at once after its restore). The
        first call starts one restore for every new partition not yet started: one reader, not one each."""
        if partition not in self.pending:
            return
        task = self.pending[partition]
        if task is None:
            batch = sorted(p for p, t in self.pending.items() if t is None)
            task = asyncio.ensure_future(self._restore(batch))
            for p in batch:
                self.pending[p] = task
        await asyncio.shield(task)
        for p in [p for p, shared in self.pending.items() if shared is task]:  # restored together: all done
            del self.pending[p]

    async def _restore(self, partitions: list[int]) -> None:
        log.info("partitions %s: restoring their tables from the changelogs", partitions)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                restored = await self._read(partitions)
            except (TimeoutError, OSError, RuntimeError) as exc:  # aiokafka's errors are RuntimeErrors
                if attempt == ATTEMPTS:
                    raise RestoreError(f"partitions {partitions}: cannot read their changelogs: {exc}") from exc
                log.warning("partitions %s: restore attempt %d failed (%s); retrying", partitions, attempt, exc)
                await asyncio.sleep(RETRY_S * attempt)
                continue
            log.info("partitions %s: restored %d table records from the changelogs", partitions, restored)
            return

    async def _read(self, partitions: list[int]) -> int:
        """Drops the partitions' keys, then applies their changelog records in offset order; returns how many."""
        by_topic = {table.changelog: table for table in self.tables}
        dropping = set(partitions)
        for table in self.tables:
            for key in [k for k in list(table.data.keys()) if self.partition_of(k) in dropping]:
                del table.data[key]
        count = 0
        tps = [TopicPartition(table.changelog, p) for table in self.tables for p in partitions]
        async with contextlib.aclosing(self.read(tps)) as batches:
            async for tp, records in batches:
                table = by_topic[tp.topic]
                for record in records:
                    if record.key is None:
                        log.warning("%s: a record without a key at offset %d, skipped", tp, record.offset)
                        continue
                    try:
                        key = table.key_of(record.key)
                    except Exception as exc:
                        log.warning("%s: skipping a record at offset %d: %s", tp, record.offset, exc)
                        continue
                    if record.value is None:
                        table.data.pop(key, None)  # a tombstone: an erasure
                    else:
                        table.data[key] = table.value_of(record.value)
                    count += 1
        return count
