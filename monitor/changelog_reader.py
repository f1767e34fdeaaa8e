"""Reads changelog partitions whole, read_committed, to their stable end: what a new owner of a partition restores
its tables from (the batch and faust runtimes; the rdkafka runtime reads the same way with librdkafka)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord


async def read_committed(bootstrap: str, tps: Sequence[TopicPartition], security: Mapping[str, Any],
                         ) -> AsyncGenerator[tuple[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]:
    """Yields each partition's records in offset order, from the beginning until the consumer's position reaches
    the last stable offset taken at the start (a position, not the last record seen: the last offsets of a
    transactional topic are commit markers, which are never delivered). Iterate it inside
    `contextlib.aclosing`, so the reader stops at once when the caller leaves early (an error)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                              isolation_level="read_committed", **security)
    await reader.start()
    try:
        reader.assign(list(tps))
        await reader.seek_to_beginning(*tps)
        ends = await reader.end_offsets(list(tps))
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batch = await reader.getmany(*pending, timeout_ms=500)
            for tp, records in batch.items():
                yield tp, records
            for tp in list(pending):
                if await reader.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await reader.stop()
