"""Consent over Kafka (kafka-python): the CLI publishes states to the compacted topic, the worker follows it live."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from monitor import topics
from monitor.consent import ConsentState, Scope, monitoring_refusal
from monitor.records import Reading, RecordError
from monitor.security import kafka_python_kwargs

log = logging.getLogger(__name__)

CONSENT_UNAVAILABLE = "no_consent: consent state not loaded"


class KafkaConsentPublisher:
    """Writes one patient's latest ConsentState (or a tombstone) and waits for the broker's acknowledgement."""

    def __init__(self, bootstrap: str, namespace: str | None = None,
                 security: Mapping[str, Any] | None = None) -> None:
        self.topic = topics.namespaced(topics.CONSENT, namespace)
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                       client_id="vigil-consent", **kafka_python_kwargs(security))

    def publish(self, key: str, value: bytes | None) -> None:
        self._producer.send(self.topic, key=key.encode(), value=value).get(timeout=30)

    def close(self) -> None:
        self._producer.close(timeout=10)

    def __enter__(self) -> KafkaConsentPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ConsentView:
    """Every patient's consent, read from the whole compacted topic by a background thread and kept current.

    Every worker reads every partition (no consumer group), so a rebalance never leaves a reading without its
    patient's consent. `ready` is set once the topic was read to the end offsets seen at start.
    """

    def __init__(self, bootstrap: str, namespace: str | None = None,
                 security: Mapping[str, Any] | None = None, poll_ms: int = 200) -> None:
        self.topic = topics.namespaced(topics.CONSENT, namespace)
        self._bootstrap = bootstrap
        self._security = kafka_python_kwargs(security)
        self._poll_ms = poll_ms
        self._states: dict[str, ConsentState] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ConsentView:
        if self._thread is None or not self._thread.is_alive():  # first start, or after a failure
            self.error = None
            self._thread = threading.Thread(target=self._run, name="vigil-consent-view", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def get(self, key: str) -> ConsentState | None:
        with self._lock:
            return self._states.get(key)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Applies one record of the topic: a state, or a tombstone (erasure)."""
        if key is None:
            return
        name = key.decode("utf-8", "replace")
        if value is None:
            with self._lock:
                self._states.pop(name, None)
            return
        try:
            state = ConsentState.from_json(value)
        except RecordError as exc:
            log.warning("ignoring an unreadable consent record: %s", exc.reason)
            return
        with self._lock:
            self._states[state.patient_key] = state

    def _run(self) -> None:
        try:
            consumer = KafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None,
                                     client_id="vigil-consent-view", isolation_level="read_committed",
                                     **self._security)
        except Exception as exc:
            self.error = exc
            return
        try:
            partitions: set[int] | None = None
            while not self._stop.is_set() and not partitions:
                partitions = consumer.partitions_for_topic(self.topic)
                if not partitions:
                    self._stop.wait(0.5)
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions or ())]
            consumer.assign(assigned)
            consumer.seek_to_beginning(*assigned)
            targets = consumer.end_offsets(assigned)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=self._poll_ms).values():
                    for record in records:
                        self.apply(record.key, record.value)
                if not self.ready.is_set() and all(consumer.position(tp) >= end for tp, end in targets.items()):
                    log.info("consent view ready: %d patient(s)", len(self._states))
                    self.ready.set()
        except Exception as exc:
            self.error = exc
            log.error("consent view stopped: %s", type(exc).__name__)
        finally:
            consumer.close()


class ConsentGate:
    """The worker's question before scoring: may this reading be processed? None, or the dead-letter reason."""

    def __init__(self, view: ConsentView, ready_timeout_s: float = 60.0) -> None:
        self.view = view
        self.ready_timeout_s = ready_timeout_s
        self._waited = False

    async def refusal(self, reading: Reading, now: datetime) -> str | None:
        if not self.view.ready.is_set():
            self.view.start()
            # wait for the first catch-up once; afterwards refuse at once while it is missing (a missing topic
            # must not make every reading wait a minute)
            timeout = 0.0 if self._waited else self.ready_timeout_s
            self._waited = True
            await asyncio.to_thread(self.view.ready.wait, timeout)
            if not self.view.ready.is_set():
                log.error("consent state not loaded from %s: refusing readings (fail closed)", self.view.topic)
                return CONSENT_UNAVAILABLE
        return self.check(reading, now)

    async def wait_ready(self) -> bool:
        """Starts the view and waits once for its first catch-up (the batch worker, before it consumes)."""
        self.view.start()
        self._waited = True
        await asyncio.to_thread(self.view.ready.wait, self.ready_timeout_s)
        return self.view.ready.is_set()

    def monitored(self, patient_key: str, now: datetime) -> bool:
        """Whether monitoring consent holds now: a withdrawn or erased patient's state is no longer written, and
        no wall-clock alert (no data) is raised for them. False while the view is not loaded (fail closed)."""
        if not self.view.ready.is_set():
            return False
        state = self.view.get(patient_key)
        return state is not None and state.active(Scope.MONITORING, now)

    def check(self, reading: Reading, now: datetime) -> str | None:
        """refusal() without waiting: fail closed while the view is not loaded (after wait_ready)."""
        if not self.view.ready.is_set():
            return CONSENT_UNAVAILABLE
        return monitoring_refusal(self.view.get(reading.patient_key), reading.measured_at, now)




def gate_from_env(env: Mapping[str, str] | None = None) -> ConsentGate | None:
    """The gate for `vigil worker`; VIGIL_CONSENT_REQUIRED=0 turns it off (tests of scoring alone, never prod)."""
    import os

    from monitor.config import Settings

    env = os.environ if env is None else env
    if env.get("VIGIL_CONSENT_REQUIRED", "1").strip().lower() in ("0", "false", "no", "off"):
        log.warning("consent gate OFF (VIGIL_CONSENT_REQUIRED=0): readings are scored without a consent check")
        return None
    settings = Settings.from_env(env)
    return ConsentGate(ConsentView(settings.bootstrap, settings.namespace))
