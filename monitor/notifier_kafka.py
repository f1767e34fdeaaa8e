"""The notifier's only Kafka importer (kafka-python): consume alerts and acks, publish acks and attempts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka import KafkaConsumer, KafkaProducer

from monitor import topics
from monitor.records import Ack, DeadLetter, NotificationAttempt, to_json
from monitor.security import KafkaSecurity

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed record: which contract topic (un-namespaced) it came from, and its bytes."""

    topic: str
    key: bytes | None
    value: bytes


@dataclass
class FirstAssignmentWatch:
    """Says when to subscribe again because no partition came `grace_s` after (re)subscribing, until the first
    assignment: kafka-python 3.0 can join with metadata that lacks the topics, assign nothing and not notice."""

    grace_s: float = 15.0
    attempts: int = 4
    clock: Callable[[], float] = time.monotonic
    since: float = field(init=False)
    done: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.since = self.clock()

    def resubscribe(self, assigned: bool) -> bool:
        if self.done or assigned:
            self.done = True
            return False
        if self.clock() - self.since < self.grace_s:
            return False
        self.attempts -= 1
        self.done = self.attempts <= 0
        self.since = self.clock()
        return True


class NotifierKafka:
    """Committed-offset consumer of vigil.alerts.v1 + vigil.acks.v1 and an idempotent producer."""

    def __init__(self, bootstrap: str, namespace: str | None, group: str, *, consume: bool = True,
                 fetch_wait_ms: int = 25) -> None:
        # A short broker-side fetch wait: an urgent alert must not sit 500 ms (the default) in a parked fetch.
        security = KafkaSecurity.from_env().kafka_python()
        self._names = {topics.namespaced(t, namespace): t for t in (topics.ALERTS, topics.ACKS)}
        self.acks_topic = topics.namespaced(topics.ACKS, namespace)
        self.notifications_topic = topics.namespaced(topics.NOTIFICATIONS, namespace)
        self.deadletter_topic = topics.namespaced(topics.DEADLETTER, namespace)
        self.consumer: KafkaConsumer | None = None
        if consume:
            self.consumer = KafkaConsumer(*self._names, bootstrap_servers=bootstrap, group_id=group,
                                          enable_auto_commit=False, auto_offset_reset="earliest",
                                          isolation_level="read_committed", fetch_max_wait_ms=fetch_wait_ms,
                                          # a crashed notifier's partitions move to its replacement within 10 s
                                          session_timeout_ms=10_000, heartbeat_interval_ms=3_000,
                                          # a join whose metadata missed a topic (created after the first fetch)
                                          # is redone at the next refresh: 5 s, not the default 5 min
                                          metadata_max_age_ms=5_000, **security)
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                      linger_ms=2, **security)
        self.watch = FirstAssignmentWatch()

    def poll(self, timeout_ms: int = 100) -> list[Incoming]:
        assert self.consumer is not None
        batch = self.consumer.poll(timeout_ms=timeout_ms, max_records=200)
        if self.watch.resubscribe(bool(self.consumer.assignment())):
            log.warning("no partition of %s assigned %.0f s after joining: subscribing again",
                        ", ".join(self._names), self.watch.grace_s)
            self.subscribe_again()
        return [Incoming(self._names[tp.topic], m.key, m.value) for tp, msgs in batch.items() for m in msgs]

    def subscribe_again(self) -> None:
        """Leaves the group and joins again (uncommitted records are read again: the ledger makes that safe)."""
        assert self.consumer is not None
        self.consumer.unsubscribe()
        self.consumer.subscribe(list(self._names))

    def commit(self) -> None:
        assert self.consumer is not None
        self.consumer.commit()

    def publish_attempt(self, attempt: NotificationAttempt) -> None:
        self.producer.send(self.notifications_topic, key=attempt.alert_id.encode(), value=to_json(attempt))

    def publish_dead_letter(self, dead: DeadLetter) -> None:
        self.producer.send(self.deadletter_topic, key=dead.source.encode(), value=to_json(dead))

    def publish_ack(self, ack: Ack, timeout_s: float = 10.0) -> None:
        """Waits for the broker's ack: a nurse is told 'acknowledged' only once it is durable."""
        self.producer.send(self.acks_topic, key=ack.patient_key.encode(), value=to_json(ack)).get(timeout=timeout_s)

    def flush(self) -> None:
        self.producer.flush(10)

    def close(self) -> None:
        self.producer.flush(10)
        self.producer.close(5)
        if self.consumer is not None:
            self.consumer.close()
