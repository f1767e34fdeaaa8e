"""Consent over Kafka (kafka-python): the CLI publishes states to the compacted topic, the worker follows it live."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from monitor import topics
from monitor.consent import ConsentState, Scope, monitoring_refusal
from monitor.records import Reading, RecordError
from monitor.security import kafka_python_kwargs

log = logging.getLogger(__name__)

CONSENT_UNAVAILABLE = "no_consent: consent state not loaded"
CONSENT_STALE = "no_consent: consent state not confirmed current"
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0


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
    patient's consent. `ready` is set once the topic was read to the end offsets seen at start. Every
    `confirm_every_s` the thread asks for the end offsets again and, once it has read up to them, confirms the
    view as current up to the moment it asked (`age_s`). A lost connection is retried with backoff; the states
    stay, and only their age grows.
    """

    def __init__(self, bootstrap: str, namespace: str | None = None,
                 security: Mapping[str, Any] | None = None, poll_ms: int = 200, confirm_every_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.topic = topics.namespaced(topics.CONSENT, namespace)
        self._bootstrap = bootstrap
        self._security = kafka_python_kwargs(security)
        self._poll_ms = poll_ms
        self.confirm_every_s = confirm_every_s
        self.monotonic = monotonic
        self._states: dict[str, ConsentState] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._confirm_now = threading.Event()
        self._confirmation = threading.Event()
        self._confirmed_at: float | None = None
        self._retry_s = RETRY_FIRST_S
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ConsentView:
        if self._thread is None or not self._thread.is_alive():  # first start, or after a failure
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
            if self.ready.is_set():
                log.info("consent update applied: %s erased", name)
            return
        try:
            state = ConsentState.from_json(value)
        except RecordError as exc:
            log.warning("ignoring an unreadable consent record: %s", exc.reason)
            return
        with self._lock:
            self._states[state.patient_key] = state
        if self.ready.is_set():  # pseudonyms only: when the worker learnt of a change is part of the trail
            log.info("consent update applied: %s monitoring %s", state.patient_key, _latest_monitoring(state))

    def confirmed(self, asked_at: float) -> None:
        """Every record written before `asked_at` (monotonic seconds) has been applied."""
        with self._lock:
            if self._confirmed_at is None or asked_at > self._confirmed_at:
                self._confirmed_at = asked_at
            self._retry_s = RETRY_FIRST_S
        self.error = None
        if not self.ready.is_set():
            log.info("consent view ready: %d patient(s)", len(self._states))
            self.ready.set()
        self._confirmation.set()

    def age_s(self) -> float | None:
        """Seconds since the latest moment up to which the topic is known to be applied; None before the first."""
        at = self._confirmed_at
        return None if at is None else self.monotonic() - at

    def confirm(self, timeout_s: float) -> bool:
        """Asks the reader thread to confirm the view now, and waits up to timeout_s for a confirmation."""
        self._confirmation.clear()
        self._confirm_now.set()
        return self._confirmation.wait(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception as exc:
                self.error = exc
                age = self.age_s()
                log.error("consent view lost %s (%s): retrying in %.0f s; the view was last confirmed %s",
                          self.topic, type(exc).__name__, self._retry_s,
                          "never" if age is None else f"{age:.0f} s ago")
                self._stop.wait(self._retry_s)
                self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)

    def _follow(self) -> None:
        """Reads the topic from its beginning, then follows it, confirming it every `confirm_every_s`."""
        consumer = KafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None,
                                 client_id="vigil-consent-view", isolation_level="read_committed",
                                 **self._security)
        try:
            partitions: set[int] | None = None
            while not self._stop.is_set() and not partitions:
                partitions = consumer.partitions_for_topic(self.topic)
                if not partitions:
                    self._stop.wait(0.5)
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions or ())]
            consumer.assign(assigned)
            consumer.seek_to_beginning(*assigned)
            asked_at, targets = self.monotonic(), consumer.end_offsets(assigned)
            next_ask = asked_at
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=self._poll_ms).values():
                    for record in records:
                        self.apply(record.key, record.value)
                if targets is not None and all(consumer.position(tp) >= end for tp, end in targets.items()):
                    self.confirmed(asked_at)
                    targets, next_ask = None, asked_at + self.confirm_every_s
                if targets is None and (self.monotonic() >= next_ask or self._confirm_now.is_set()):
                    self._confirm_now.clear()
                    asked_at, targets = self.monotonic(), consumer.end_offsets(assigned)
        finally:
            consumer.close()


def _latest_monitoring(state: ConsentState) -> str:
    changes = [e.action.value for e in state.events if e.scope is Scope.MONITORING]
    return changes[-1] if changes else "never granted"


class ConsentGate:
    """The worker's question before scoring: may this reading be processed? None, or the dead-letter reason.

    Fails closed: while the view is not loaded, or not confirmed current within `max_age_s` (a revocation takes
    effect within a minute, docs/privacy.md), readings are refused (check). A stale view gets one short chance to
    confirm (`confirm_wait_s`); after a failed chance, readings are refused at once for `confirm_every_s`, so a
    lost broker never makes every reading wait.
    """

    def __init__(self, view: ConsentView, ready_timeout_s: float = 60.0, max_age_s: float = 30.0,
                 confirm_wait_s: float = 2.0) -> None:
        self.view = view
        self.ready_timeout_s = ready_timeout_s
        self.max_age_s = max_age_s
        self.confirm_wait_s = confirm_wait_s
        self._waited = False
        self._no_wait_until = -math.inf

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

    def current(self) -> bool:
        """Whether the view is loaded and was confirmed within max_age_s; a stale view gets one short chance."""
        if not self.view.ready.is_set():
            return False
        age = self.view.age_s()
        if age is not None and age <= self.max_age_s:
            return True
        now = self.view.monotonic()
        if now < self._no_wait_until:
            return False
        if self.view.confirm(self.confirm_wait_s):
            age = self.view.age_s()
            if age is not None and age <= self.max_age_s:
                return True
        self._no_wait_until = now + self.view.confirm_every_s
        log.error("consent view not confirmed for over %.0f s: refusing readings (fail closed)", self.max_age_s)
        return False

    def monitored(self, patient_key: str, now: datetime) -> bool:
        """Whether monitoring consent holds now: a withdrawn or erased patient's state is no longer written, and
        no wall-clock alert (no data) is raised for them. False while the view is not loaded (fail closed). A
        loaded view that is stale answers from what it knows: False here forgets the patient's state, which only a
        known withdrawal may do (readings are refused while it is stale, in check)."""
        if not self.view.ready.is_set():
            return False
        state = self.view.get(patient_key)
        return state is not None and state.active(Scope.MONITORING, now)

    def check(self, reading: Reading, now: datetime) -> str | None:
        """refusal() without waiting: fail closed while the view is not loaded (after wait_ready) or stale."""
        if not self.view.ready.is_set():
            return CONSENT_UNAVAILABLE
        if not self.current():
            return CONSENT_STALE
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
