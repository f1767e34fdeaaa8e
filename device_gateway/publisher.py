"""The gateway's only kafka-python importer: keyed, idempotent, acks=all publishing of records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from kafka import KafkaProducer

from device_gateway import topic_lookup
from monitor.records import DeadLetter, Reading, to_json
from monitor.security import kafka_python_kwargs
from monitor.topics import DEADLETTER, READINGS


class ReadingPublisher:
    """Publishes Readings keyed by patient (so one patient's readings stay ordered) and dead letters."""

    def __init__(
        self,
        bootstrap: str,
        topic: str = READINGS,
        deadletter_topic: str = DEADLETTER,
        *,
        linger_ms: int = 5,
        security: dict[str, Any] | None = None,
        **producer_options: Any,
    ) -> None:
        self.topic = topic
        self.deadletter_topic = deadletter_topic
        self._bootstrap = bootstrap
        self._security = dict(security or {})
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            max_in_flight_requests_per_connection=5,
            retries=2**31 - 1,
            linger_ms=linger_ms,
            client_id="vigil-gateway",
            **kafka_python_kwargs(security),  # None: the VIGIL_KAFKA_* section of the environment
            **producer_options,
        )

    def send(self, reading: Reading) -> Any:
        """Queues one reading and returns the kafka-python future of its broker acknowledgement."""
        return self._producer.send(self.topic, key=reading.patient_key.encode(), value=to_json(reading))

    def send_raw(self, key: bytes, value: bytes, topic: str | None = None) -> Any:
        return self._producer.send(topic or self.topic, key=key, value=value)

    def send_dead_letter(self, letter: DeadLetter) -> Any:
        return self._producer.send(self.deadletter_topic, key=letter.source.encode(), value=to_json(letter))

    def send_all(self, readings: Iterable[Reading], timeout_s: float = 30.0) -> int:
        """Sends readings and waits until the broker acknowledged every one; returns the count."""
        futures = [self.send(r) for r in readings]
        self._producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=timeout_s)
        return len(futures)

    def find_published(self, topic: str, keys: Mapping[str, bytes], since: datetime) -> set[str]:
        """Which of these reading ids are already on `topic` (the outbox's reconcile; see topic_lookup)."""
        return topic_lookup.find_published(self._bootstrap, topic, keys, since, **self._security)

    def flush(self, timeout_s: float | None = None) -> None:
        self._producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.close(timeout=timeout_s)

    def __enter__(self) -> ReadingPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
