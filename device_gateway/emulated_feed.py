"""Emulated wearables streamed through the real gateway (scan, pair, bleak over bumble, outbox, publisher)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from device_gateway.ble import BleOptions, Found, pair_and_identify, scan
from device_gateway.emulator.devices import EmulatedCgm, EmulatedHeartRate, Identity, Wearable
from device_gateway.emulator.scenario import Scenario
from device_gateway.enrolment import Consent, Enrolment, EnrolmentStore
from device_gateway.outbox import Outbox
from device_gateway.runtime import Gateway, run_gateway
from monitor.records import DeadLetter, Reading, ReadingKind

CGM_ADDRESS, HR_ADDRESS = "F1:00:00:00:00:01", "F1:00:00:00:00:03"
Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """Where the feed publishes, who the emulated patient is, and how fast the wearables measure."""

    bootstrap: str
    readings_topic: str
    deadletter_topic: str
    secret: bytes
    data_dir: Path
    enrolment_id: str = "demo-patient-0001"
    consent_by: str = "Demo care team"
    interval_s: float = 0.4  # wall seconds per CGM reading, i.e. per 5 minutes of the patient's time
    heart_rate_every: int = 3  # the strap measures once per this many CGM readings
    drain_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class FeedResult:
    readings: int
    dead_letters: int
    pending: int


class AcceleratedClock:
    """The patient's time for a fast demo: frozen at `start` until run(), then `speed` times the wall clock.

    The gateway stamps readings without a device time (heart rate) with it, and the CGM's session starts at
    `start`, so every reading's event time and receive time agree, as they would live.
    """

    def __init__(self, start: datetime, speed: float, wall: Callable[[], float] = time.monotonic) -> None:
        self.start = start
        self.speed = speed
        self._wall = wall
        self._wall0: float | None = None

    def run(self) -> None:
        self._wall0 = self._wall()

    def __call__(self) -> datetime:
        if self._wall0 is None:
            return self.start
        return self.start + timedelta(seconds=(self._wall() - self._wall0) * self.speed)


def demo_wearables(series: Sequence[float], session_start: datetime) -> list[Wearable]:
    """A CGM following `series` (one value per 5 minutes of its clock) and a heart-rate strap."""
    return [
        EmulatedCgm(Identity(CGM_ADDRESS, "vigil-cgm", "CGM-1", "CGM0001"), Scenario.of(series), session_start),
        EmulatedHeartRate(Identity(HR_ADDRESS, "vigil-hr", "HRS-1", "HRS0003")),
    ]


def describe_reading(r: Reading) -> str:
    """One terminal line per reading the broker acknowledged."""
    unit = {ReadingKind.CGM: "mg/dL", ReadingKind.GLUCOSE: "mg/dL", ReadingKind.HEART_RATE: "bpm"}.get(r.kind, r.unit)
    value = "-" if r.value is None else f"{r.value:5.0f}"
    return f"  {r.kind.value:<10} {r.measured_at:%H:%M}Z {value} {unit:<6} from {r.device_id}"


class EchoingPublisher:
    """The gateway's ReadingPublisher, echoing each reading once the broker acknowledged it."""

    def __init__(self, inner: Any, echo: Echo) -> None:
        self._inner = inner
        self._echo = echo

    def send(self, reading: Reading) -> Any:
        future = self._inner.send(reading)
        future.add_callback(lambda _metadata: self._echo(describe_reading(reading)))
        return future

    def send_dead_letter(self, letter: DeadLetter) -> Any:
        return self._inner.send_dead_letter(letter)

    def flush(self, timeout: float | None = None) -> None:
        self._inner.flush(timeout)

    def find_published(self, topic: str, keys: Mapping[str, bytes], since: datetime) -> set[str]:
        result: set[str] = self._inner.find_published(topic, keys, since)
        return result

    def close(self) -> None:
        self._inner.close()


async def until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Polls a condition (no fixed sleep decides anything); TimeoutError names what never happened."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout_s:.0f}s")
        await asyncio.sleep(0.05)


async def enrol_found(options: BleOptions, store: EnrolmentStore, found: Sequence[Found], cfg: FeedConfig,
                      echo: Echo) -> list[Enrolment]:
    """Pairs every device found (BLE pairing and Device Information) and enrols it with recorded consent."""
    enrolled = []
    for device in found:
        info = await pair_and_identify(device.address, options)
        result = store.enrol(device.address, enrolment_id=cfg.enrolment_id, secret=cfg.secret,
                             consent=Consent(True, cfg.consent_by), info=info)
        if not isinstance(result, Enrolment):
            raise RuntimeError(f"enrolment of {device.address} refused: {result.reason}")
        echo(f"paired {device.name} {device.address} ({info.model}, serial {info.serial}) "
             f"for patient {result.patient_key[:12]}...")
        enrolled.append(result)
    return enrolled


async def pace(wearables: Sequence[Wearable], ticks: int, cfg: FeedConfig, clock: AcceleratedClock) -> None:
    """The CGM measures once per tick, the strap every `heart_rate_every` ticks, on the clock's schedule."""
    cgm, *others = wearables
    clock.run()
    t0 = time.monotonic()
    for tick in range(ticks):
        await asyncio.sleep(max(0.0, t0 + tick * cfg.interval_s - time.monotonic()))  # demo pacing only
        await cgm.take_reading()
        if tick % cfg.heart_rate_every == 0:
            for w in others:
                await w.take_reading()


async def stream(cfg: FeedConfig, series: Sequence[float], echo: Echo, *, now: datetime | None = None) -> FeedResult:
    """Runs the whole feed: emulated radio up, scan, pair, stream `series`, drain the outbox, shut down."""
    from device_gateway import bumble_backend
    from device_gateway.emulator.world import EmulatedWorld
    from device_gateway.publisher import ReadingPublisher

    # The patient's morning runs 5 minutes per tick from now: the CGM's session and the gateway's clock agree.
    start = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    clock = AcceleratedClock(start, speed=300.0 / cfg.interval_s)
    world = await EmulatedWorld(demo_wearables(series, start)).start()
    options = BleOptions(scanner_kwargs={"backend": bumble_backend.BumbleScanner, "world": world},
                         client_kwargs={"backend": bumble_backend.BumbleClient, "world": world})
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    store, outbox = EnrolmentStore(cfg.data_dir / "enrolment.db"), Outbox(cfg.data_dir / "outbox.db")
    stop = asyncio.Event()
    runner: asyncio.Task[Any] | None = None
    try:
        found = await scan(options, timeout=10.0, expect=len(world.wearables))
        echo("scan found " + ", ".join(f"{f.name} ({f.address})" for f in found))
        await enrol_found(options, store, found, cfg, echo)
        gateway = Gateway(store, outbox, now=clock, readings_topic=cfg.readings_topic,
                          deadletter_topic=cfg.deadletter_topic)

        def publisher() -> EchoingPublisher:
            return EchoingPublisher(ReadingPublisher(cfg.bootstrap, cfg.readings_topic, cfg.deadletter_topic), echo)

        runner = asyncio.create_task(run_gateway(gateway, options, publisher, stop))
        await until(lambda: all(w.subscribed for w in world.wearables), 30, "every wearable subscribed")
        echo(f"streaming {len(series)} CGM readings over emulated BLE, one every {cfg.interval_s:g}s:")
        await pace(world.wearables, len(series), cfg, clock)
        taken = sum(w.readings_taken for w in world.wearables)  # each emulated measurement is one reading

        def all_sent() -> bool:
            return sum(gateway.counts.values()) >= taken and outbox.stats().pending == 0

        await until(all_sent, cfg.drain_timeout_s, "every measurement committed and sent")
        return FeedResult(gateway.counts["readings"], gateway.counts["dead_letters"], outbox.stats().pending)
    finally:
        stop.set()
        if runner is not None:
            await asyncio.wait_for(runner, 30)
        await world.close()
        outbox.close()
        store.close()
