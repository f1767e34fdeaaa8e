"""The faust application: its settings, topics and tables; agents live in monitor.agents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import faust

from monitor import topics
from monitor.changelog_reader import read_committed
from monitor.config import Settings
from monitor.faust_restore import PartitionRestore, RestoredTable
from monitor.faust_seek import install as install_seek_fix
from monitor.faust_seek import note_taken
from monitor.security import KafkaSecurity

TICKS: Final = "vigil.monitor-ticks.v1"  # internal: wall-clock ticks keyed by patient, so tables change in-stream
PARTITIONS: Final = topics.PARTITIONS


@dataclass(frozen=True)
class Wiring:
    """The faust objects the agents need, built once per app."""

    app: faust.App
    readings: Any
    alerts: Any
    acks: Any
    deadletter: Any
    state: Any
    patient_config: Any = None
    summaries: Any = None
    ticks: Any = None
    config: Any = None  # table: patient_key -> PatientConfig JSON (targets, model reference)
    txn: Any = None  # Transactional: outputs and table writes inside the input's transaction
    restore: PartitionRestore | None = None  # a newly assigned partition's tables, read back before scoring
    partitions: dict[str, int] = field(default_factory=dict)  # patient_key -> partition, computed once

    def partition_of(self, key: str) -> int:
        """topics.partition_of_key(key), computed once a key."""
        cached = self.partitions.get(key)
        if cached is None:
            cached = self.partitions[key] = topics.partition_of_key(key)
        return cached

    async def restored(self, event: Any) -> None:
        """Notes the event as taken (faust_seek), then waits until the tables of its partition are restored: at
        once, unless its restore still runs."""
        message = getattr(event, "message", None)
        consumer = getattr(self.app, "_consumer", None)  # None in agent.test_context(): nothing to hand over
        if message is not None and consumer is not None:
            note_taken(consumer, message)
        if self.restore is not None and message is not None:
            await self.restore.ready(message.partition)

    def keys_of_partition(self, table: Any, partition: int) -> list[str]:
        return [key for key in list(table.keys()) if self.partition_of(key) == partition]

    async def send_ticks(self, now: datetime) -> None:
        """One wall-clock tick per partition, outside any transaction (a trigger: repeating it changes nothing)."""
        value, name = now.isoformat().encode(), self.ticks.get_topic_name()
        for partition in range(PARTITIONS):
            await self.app.producer.send(name, f"tick-{partition}".encode(), value, partition, None, None)


def _restored(app: faust.App, table: Any) -> RestoredTable:
    """How the restore reads one table's changelog: the topic, the local store, faust's own key and value codecs."""
    changelog = table.changelog_topic
    return RestoredTable(
        changelog=changelog.get_topic_name(), data=table.data,
        key_of=lambda raw: str(app.serializers.loads_key(table.key_type, raw, serializer=changelog.key_serializer)),
        value_of=lambda raw: app.serializers.loads_value(table.value_type, raw,
                                                         serializer=changelog.value_serializer))


class Transactional:
    """Writes that commit atomically with the input offset (exactly once), awaited inside the agent.

    faust-streaming 0.15.3 leaves two gaps in its exactly-once mode that a SIGKILL turns into duplicated or
    divergent alerts (tests/integration/test_scoring_sigkill.py): a send to a topic the worker does not consume
    (alerts, dead letters, summaries) goes through its non-transactional producer, and a table write is queued in
    its ProducerBuffer and may join a later transaction than the input offset it belongs to. Here both go into
    the transaction of the input event's partition before the agent moves on, so a commit covers exactly the
    outputs of the offsets it commits. Without exactly-once (or in agent.test_context()) they are plain writes.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app

    def _transactional_id(self, event: Any) -> str | None:
        message = getattr(event, "message", None)
        if not self.app.in_transaction or message is None or not self.app.producer.started:
            return None
        group = self.app.assignor.group_for_topic(message.topic)
        return f"{self.app.conf.id}-{group}-{message.partition}"

    async def send(self, topic: Any, *, key: bytes, value: bytes, event: Any) -> None:
        tid = self._transactional_id(event)
        if tid is None:
            await topic.send(key=key, value=value)
            return
        await self.app.producer.send(topic.get_topic_name(), key, value, None, None, None, transactional_id=tid)

    async def set(self, table: Any, key: str, value: bytes, *, event: Any) -> None:
        """table[key] = value, with its changelog record in the input's transaction (same partition)."""
        tid = self._transactional_id(event)
        if tid is None:
            table[key] = value
            return
        table.data[key] = value  # the local store only; the changelog record is sent here, awaited
        changelog = table.changelog_topic
        raw_key, _ = changelog.prepare_key(key, None)  # serialized exactly as faust's own changelog writes
        raw_value, _ = changelog.prepare_value(value, None)
        await self.app.producer.send(changelog.get_topic_name(), raw_key, raw_value, event.message.partition,
                                     None, None, transactional_id=tid)


def _raw_topic(app: faust.App, name: str, namespace: str | None, **options: Any) -> Any:
    return app.topic(
        topics.namespaced(name, namespace),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        **options,
    )


def create_app(settings: Settings, **overrides: Any) -> Wiring:
    """Builds the faust app for one deployment; exactly-once so a crash never duplicates an alert."""
    datadir = settings.home / "faust" / f"{settings.worker_group}-data"
    datadir.parent.mkdir(parents=True, exist_ok=True)  # faust makes the last level only
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap}",
        "store": "memory://",
        "topic_partitions": PARTITIONS,
        "topic_replication_factor": 1,
        "topic_allow_declare": True,
        "processing_guarantee": "exactly_once",
        "web_enabled": False,
        # Faust makes its data dir even for memory:// tables; keep it under the vigil home, not the working dir.
        "datadir": str(datadir),
        "table_cleanup_interval": 3600.0,
        "broker_commit_every": 1000,
        "broker_commit_interval": 0.25,  # latency vs throughput, measured at 0.1 / 0.25 / 0.5 / 1 s (bench/README.md)
        "producer_linger_ms": 10,  # batches changelog + alert records: 0.42 -> 0.28 ms CPU/reading (bench/README.md)
        # No standby replicas: faust-streaming 0.15.3 maps revoked partitions to transactional ids through the
        # new assignment, where they are standbys, so their producers are never stopped; when the partitions come
        # back after another worker died, it reuses a producer that worker had fenced and the survivor crashes
        # (IllegalOperation). A moved partition is restored from its changelog instead (bench/README.md).
        "table_standby_replicas": 0,
        "stream_wait_empty": True,
        "consumer_auto_offset_reset": "earliest",
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    options.update(KafkaSecurity.from_env().faust_options())  # SASL/SCRAM + TLS from VIGIL_KAFKA_* (issue 8)
    options.update(overrides)
    install_seek_fix()  # faust's end-of-recovery hand-over: each partition starts after the last event scored
    app = faust.App(settings.worker_group, **options)
    # Changelog-backed tables keyed by patient_key: a restarted worker resumes exactly where it stopped.
    state = app.Table(topics.STATE_TABLE, default=None, key_type=str, value_type=bytes, partitions=PARTITIONS)
    config = app.Table(topics.CONFIG_TABLE, default=None, key_type=str, value_type=bytes, partitions=PARTITIONS)
    readings = _raw_topic(app, topics.READINGS, settings.namespace)
    acks = _raw_topic(app, topics.ACKS, settings.namespace)
    patient_config = _raw_topic(app, topics.PATIENT_CONFIG, settings.namespace)
    # Internal: faust declares it itself, so a worker never waits on a topic nobody created.
    ticks = _raw_topic(app, TICKS, settings.namespace, internal=True, partitions=PARTITIONS,
                       retention=timedelta(days=1))
    security = KafkaSecurity.from_env().aiokafka()
    restore = PartitionRestore(
        tables=[_restored(app, state), _restored(app, config)],
        inputs=frozenset(t.get_topic_name() for t in (readings, acks, patient_config, ticks)),
        partition_of=topics.partition_of_key,
        read=lambda tps: read_committed(settings.bootstrap, tps, security))

    async def on_assigned(_app: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        await restore.restore_assigned(args[0])  # the new assignment, every topic partition of it

    app.on_partitions_assigned.connect(on_assigned)
    return Wiring(
        app=app,
        readings=readings,
        alerts=_raw_topic(app, topics.ALERTS, settings.namespace),
        acks=acks,
        deadletter=_raw_topic(app, topics.DEADLETTER, settings.namespace),
        state=state,
        patient_config=patient_config,
        summaries=_raw_topic(app, topics.SUMMARIES, settings.namespace),
        ticks=ticks,
        config=config,
        txn=Transactional(app),
        restore=restore,
    )
