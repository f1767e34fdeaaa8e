"""The gateway loop: BLE values -> decode -> readings -> durable outbox -> publisher, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

from device_gateway.backoff import BackoffPolicy, backoff_delay
from device_gateway.ble import BleOptions, DeviceSession
from device_gateway.convert import to_readings
from device_gateway.enrolment import EnrolmentStore
from device_gateway.outbox import Outbox, Publisher
from device_gateway.parsing import DecodeError, decode
from monitor.records import DeadLetter, Reading, RecordError
from monitor.topics import DEADLETTER, READINGS

log = logging.getLogger(__name__)


class Gateway:
    """Turns one characteristic value into committed outbox rows; publishing runs beside it."""

    def __init__(
        self,
        store: EnrolmentStore,
        outbox: Outbox,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        readings_topic: str = READINGS,
        deadletter_topic: str = DEADLETTER,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self._now = now
        self._readings_topic = readings_topic
        self._deadletter_topic = deadletter_topic
        self.wake = asyncio.Event()
        self.counts = {"readings": 0, "dead_letters": 0, "duplicates": 0}

    def on_value(self, address: str, char_uuid: int, payload: bytes, session_start: datetime | None) -> None:
        """Decodes and commits; a DecodeError becomes a DeadLetter, and the gateway keeps running."""
        received = self._now()
        enrolment = self.store.get(address)
        source = enrolment.device_id if enrolment is not None else f"ble:{address}"
        if enrolment is None or not enrolment.consent:
            self._dead(payload, source, "consent", "no_consent", received)
            return
        try:
            readings = to_readings(
                decode(char_uuid, payload),
                patient_key=enrolment.patient_key,
                device_id=enrolment.device_id,
                received_at=received,
                session_start=session_start,
            )
        except (DecodeError, RecordError) as exc:
            self._dead(payload, source, "decode", f"char {char_uuid:#06x}: {exc.reason}", received)
            return
        except Exception as exc:  # a decoder bug is a dead letter too, never the end of the gateway
            log.exception("unexpected error decoding char %#06x from %s", char_uuid, source)
            self._dead(payload, source, "decode", f"char {char_uuid:#06x}: unexpected {exc!r}", received)
            return
        self._commit(address, readings)

    def _commit(self, address: str, readings: list[Reading]) -> None:
        results = self.outbox.enqueue_many([(self._readings_topic, r) for r in readings])
        for r in results:
            if getattr(r, "new", False):
                self.counts["readings"] += 1
            elif hasattr(r, "new"):
                self.counts["duplicates"] += 1
        # Only after the commit: the next backfill starts after what is durably ours.
        seqs = [r.sequence for r in readings if r.sequence is not None]
        if seqs:
            self.store.record_sequence(address, max(seqs))
        self.wake.set()

    def _dead(self, payload: bytes, source: str, stage: str, reason: str, at: datetime) -> None:
        letter = DeadLetter.of(payload, source=source, stage=stage, reason=reason, at=at)
        self.outbox.enqueue(self._deadletter_topic, letter)
        self.counts["dead_letters"] += 1
        log.warning("dead letter from %s (%s): %s", source, stage, reason)
        self.wake.set()

    async def publish_loop(
        self,
        publisher_factory: Callable[[], Publisher],
        stop: asyncio.Event,
        *,
        policy: BackoffPolicy | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        """Drains the outbox in a worker thread whenever woken; backs off while the broker is away."""
        policy = policy or BackoffPolicy(base=0.2, cap=10.0)
        publisher: Publisher | None = None
        attempt = 0
        while True:
            self.wake.clear()
            try:
                if publisher is None:
                    publisher = await asyncio.to_thread(publisher_factory)
                result = await asyncio.to_thread(self.outbox.drain, publisher)
                error = result.error
            except Exception as exc:  # e.g. no broker yet: the rows stay in the outbox
                error = repr(exc)
            if error is None:
                attempt = 0
                if stop.is_set() and self.outbox.stats().pending == 0:
                    break
                waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
                await asyncio.wait(waiters, timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
                continue
            if stop.is_set():
                break
            delay = backoff_delay(attempt, policy, rng())
            attempt += 1
            log.warning("publishing paused (%s); retry in %.2fs, %d pending", error, delay,
                        self.outbox.stats().pending)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        if publisher is not None and hasattr(publisher, "close"):
            await asyncio.to_thread(publisher.close)


async def run_gateway(
    gateway: Gateway,
    options: BleOptions,
    publisher_factory: Callable[[], Publisher],
    stop: asyncio.Event,
) -> list[DeviceSession]:
    """Streams every enrolled, consented device until `stop` is set."""
    sessions = [
        DeviceSession(e.address, options, gateway.on_value, gateway.store.last_sequence)
        for e in gateway.store.all()
        if e.consent
    ]
    tasks = [asyncio.create_task(s.run(stop)) for s in sessions]
    tasks.append(asyncio.create_task(gateway.publish_loop(publisher_factory, stop)))
    await asyncio.gather(*tasks)
    return sessions
