"""Restores a newly assigned partition's tables from their changelogs before the faust agents touch them.

faust-streaming 0.15.3 in exactly-once mode takes a changelog partition's end from the consumer's last fetch
(`last_stable_offset`), which is unknown right after an assignment: its recovery then reads nothing (highwater -1
in the worker log), and a worker that takes over a partition scores it from empty or stale states (a duplicated
`open`, a lost `resolved`: tests/integration/test_scale_out.py). Here the first event of a newly assigned
partition waits while that partition's keys are dropped from the tables and read again, read_committed, to
their stable end (`changelog_reader.read_committed`, as the batch runtime restores). A partition the worker kept
through a rebalance keeps its tables: its open transaction still holds what they hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import TopicPartition

log = logging.getLogger(__name__)

ATTEMPTS = 5
RETRY_S = 1.0


class Assigned(Protocol):
    topic: str
    partition: int


Reader = Callable[[list[TopicPartition]], AsyncIterator[tuple[TopicPartition, list[Any]]]]


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
    """Which partitions are newly ours, and their restores (started by the first event that needs one)."""

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
                task.cancel()
        for p in now - self.owned:
            self.pending[p] = None
        self.owned = now

    async def ready(self, partition: int) -> None:
        """Returns once `partition`'s tables hold what its changelogs committed (at once after its restore)."""
        if partition not in self.pending:
            return
        task = self.pending[partition]
        if task is None:
            task = self.pending[partition] = asyncio.ensure_future(self._restore(partition))
        await asyncio.shield(task)
        if self.pending.get(partition) is task:
            del self.pending[partition]

    async def _restore(self, partition: int) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                restored = await self._read(partition)
            except (TimeoutError, OSError, RuntimeError) as exc:  # aiokafka's errors are RuntimeErrors
                if attempt == ATTEMPTS:
                    raise RestoreError(f"partition {partition}: cannot read its changelogs: {exc}") from exc
                log.warning("partition %d: restore attempt %d failed (%s); retrying", partition, attempt, exc)
                await asyncio.sleep(RETRY_S * attempt)
                continue
            log.info("partition %d: restored %d table records from the changelogs", partition, restored)
            return

    async def _read(self, partition: int) -> int:
        """Drops the partition's keys, then applies its changelog records in offset order; returns how many."""
        by_topic = {table.changelog: table for table in self.tables}
        for table in self.tables:
            for key in [k for k in list(table.data.keys()) if self.partition_of(k) == partition]:
                del table.data[key]
        count = 0
        tps = [TopicPartition(table.changelog, partition) for table in self.tables]
        async for tp, records in self.read(tps):
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
