"""Keyed readings records scored poll by poll as the rdkafka loop scores them, without a broker: the
profile-guided build's training (monitor.pgo_training) and the in-process bench (bench.loop_path) replay the
same steps the worker takes, from one definition."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Final

from monitor.worker_core import Origin, PartitionTables, WorkerCore, handle

READINGS: Final = "readings"  # the kind worker_core.handle scores, and the topic its dead letters name


def score_poll(records: Sequence[tuple[int, bytes]], start: int, stop: int, tables: dict[int, PartitionTables],
               core: WorkerCore, first_offset: int = 0, wall: Callable[[], float] = time.time) -> Counter[str]:
    """records[start:stop] (partition, value) as one poll: each partition's share through `worker_core.handle`,
    then every partition's due states flushed (`wall`: epoch seconds, what deferred writes wait on); the outputs
    counted by topic. A record's offset is its index plus `first_offset`, as the topic numbers it."""
    outputs: Counter[str] = Counter()
    by_partition: dict[int, list[tuple[bytes, Origin]]] = {}
    for offset in range(start, stop):
        partition, raw = records[offset]
        by_partition.setdefault(partition, []).append((raw, Origin(READINGS, partition, first_offset + offset)))
    for partition, chunk in by_partition.items():
        outputs.update(out.topic for out in handle(core, tables[partition], READINGS, chunk))
    now = wall()
    for partition_tables in tables.values():
        outputs.update(out.topic for out in partition_tables.flush(now, False, None))
    return outputs


def score(records: Sequence[tuple[int, bytes]], poll: int, tables: dict[int, PartitionTables], core: WorkerCore,
          first_offset: int = 0) -> Counter[str]:
    """All the records, `poll` at a time; the outputs counted by topic."""
    outputs: Counter[str] = Counter()
    for start in range(0, len(records), poll):
        outputs.update(score_poll(records, start, min(start + poll, len(records)), tables, core, first_offset))
    return outputs
