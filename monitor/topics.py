"""The topic contract table (design section 3) as data, so the CLI, tests and docker-compose agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import orjson

DAY_MS: Final = 24 * 3600 * 1000

READINGS: Final = "vigil.readings.v1"
ALERTS: Final = "vigil.alerts.v1"
ACKS: Final = "vigil.acks.v1"
NOTIFICATIONS: Final = "vigil.notifications.v1"
DEADLETTER: Final = "vigil.deadletter.v1"
PATIENT_CONFIG: Final = "vigil.patient-config.v1"
SUMMARIES: Final = "vigil.summaries.v1"
CONSENT: Final = "vigil.consent.v1"  # compacted: the latest ConsentState per patient (monitor.consent)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic's name, partitioning and retention, as created on the broker."""

    name: str
    partitions: int
    key: str
    value: str
    config: dict[str, str] = field(default_factory=dict)

    def in_namespace(self, namespace: str | None) -> TopicSpec:
        return TopicSpec(namespaced(self.name, namespace), self.partitions, self.key, self.value, dict(self.config))


def _delete(days: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)}


COMPACTED: Final = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": str(DAY_MS)}

# 12 partitions keyed by patient: one patient's readings stay ordered, and up to 12 workers share the load.
PARTITIONS: Final = 12
CONTRACT: Final[tuple[TopicSpec, ...]] = (
    TopicSpec(READINGS, PARTITIONS, "patient_key", "Reading", _delete(30)),
    TopicSpec(ALERTS, PARTITIONS, "patient_key", "Alert", _delete(365)),
    TopicSpec(ACKS, PARTITIONS, "patient_key", "Ack", _delete(365)),
    TopicSpec(NOTIFICATIONS, PARTITIONS, "alert_id", "NotificationAttempt", _delete(365)),
    TopicSpec(DEADLETTER, 3, "source", "DeadLetter", _delete(30)),
    TopicSpec(PATIENT_CONFIG, PARTITIONS, "patient_key", "PatientConfig", dict(COMPACTED)),
    TopicSpec(SUMMARIES, PARTITIONS, "patient_key", "DailySummary", _delete(365)),
    TopicSpec(CONSENT, PARTITIONS, "patient_key", "ConsentState", dict(COMPACTED)),
)


_M32: Final = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit int like Java's: the
    hash every vigil producer's default partitioner places a key with, here without a Kafka library."""
    m, length = 0x5BD1E995, len(data)
    h = (0x9747B28C ^ length) & _M32
    for i in range(0, length - length % 4, 4):
        k = (int.from_bytes(data[i:i + 4], "little") * m) & _M32
        k = ((k ^ (k >> 24)) * m) & _M32
        h = ((h * m) & _M32) ^ k
    tail = length % 4
    if tail:
        rest = length - tail
        h ^= int.from_bytes(data[rest:], "little")  # Java xors the 1-3 trailing bytes in, then multiplies
        h = (h * m) & _M32
    h ^= h >> 13
    h = (h * m) & _M32
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_of_key(key: str, partitions: int = PARTITIONS) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, positive, modulo the partitions): where
    every vigil producer puts a patient's records."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def namespaced(name: str, namespace: str | None) -> str:
    """Prefixes a topic with a study namespace, so replays never mix with live data."""
    return f"{namespace}.{name}" if namespace else name


def contract(namespace: str | None = None) -> tuple[TopicSpec, ...]:
    return tuple(spec.in_namespace(namespace) for spec in CONTRACT)


STATE_TABLE: Final = "patient-state"  # the worker's tables, each backed by a compacted changelog topic
CONFIG_TABLE: Final = "patient-config"


def table_changelog(worker_group: str, table: str) -> str:
    """A worker table's changelog topic, named as faust names it, so both worker runtimes share it."""
    return f"{worker_group}-{table}-changelog"


def changelog_key(patient_key: str) -> bytes:
    """A patient key as faust writes `str` table keys to a changelog (JSON: b'"pk_..."')."""
    return orjson.dumps(patient_key)


def key_of_changelog(raw: bytes) -> str:
    key = orjson.loads(raw)
    if not isinstance(key, str):
        raise ValueError(f"not a patient key: {raw[:40]!r}")
    return key
