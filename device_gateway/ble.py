"""BLE I/O, the only bleak user: scan, connect, pair when needed, read device info, subscribe, backfill."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError, BleakGATTProtocolError

from device_gateway import const, racp
from device_gateway.backoff import BackoffPolicy, backoff_delay
from device_gateway.enrolment import DeviceInfo, normalize_address
from device_gateway.parsing import CgmSessionStartTime, DecodeError, decode

log = logging.getLogger(__name__)

_NEEDS_PAIRING = {0x05, 0x08, 0x0C, 0x0F}  # insufficient authentication, authorization, key size, encryption

# Characteristics the gateway subscribes to, by 16-bit UUID.
MEASUREMENT_CHARS: frozenset[int] = frozenset({
    const.GLUCOSE_MEASUREMENT, const.GLUCOSE_MEASUREMENT_CONTEXT, const.CGM_MEASUREMENT,
    const.HEART_RATE_MEASUREMENT, const.BLOOD_PRESSURE_MEASUREMENT, const.PLX_SPOT_CHECK_MEASUREMENT,
    const.PLX_CONTINUOUS_MEASUREMENT, const.TEMPERATURE_MEASUREMENT, const.WEIGHT_MEASUREMENT,
})
CGM_SESSION_START_TIME = 0x2AAA


def uuid16(uuid: str) -> int | None:
    """The 16-bit value of a SIG base UUID string, or None for a vendor UUID."""
    u = uuid.lower()
    if len(u) == 36 and u.endswith(const.BASE_UUID_SUFFIX) and u.startswith("0000"):
        return int(u[4:8], 16)
    return None


def full_uuid(value: int) -> str:
    return f"0000{value:04x}{const.BASE_UUID_SUFFIX}"


HEALTH_SERVICE_UUIDS: list[str] = sorted(full_uuid(u) for u in const.HEALTH_SERVICES)


@dataclass(frozen=True, slots=True)
class BleOptions:
    """Backend choice (extra BleakScanner / BleakClient keyword arguments, e.g. the bumble backend)."""

    scanner_kwargs: dict[str, Any] = field(default_factory=dict)
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    connect_timeout: float = 10.0
    racp_timeout: float = 30.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)


@dataclass(frozen=True, slots=True)
class Found:
    """A health device seen while scanning."""

    address: str
    name: str | None
    services: tuple[int, ...]
    rssi: int


async def scan(options: BleOptions, timeout: float, expect: int | None = None) -> list[Found]:
    """Lists advertising devices offering a health service; returns early once `expect` are seen."""
    found: dict[str, Found] = {}
    enough = asyncio.Event()

    def seen(device: BLEDevice, adv: AdvertisementData) -> None:
        services = tuple(sorted({u for u in map(uuid16, adv.service_uuids) if u in const.HEALTH_SERVICES}))
        found[normalize_address(device.address)] = Found(
            normalize_address(device.address), adv.local_name or device.name, services, adv.rssi
        )
        if expect is not None and len(found) >= expect:
            enough.set()

    async with BleakScanner(seen, service_uuids=HEALTH_SERVICE_UUIDS, **options.scanner_kwargs):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(enough.wait(), timeout)
    return sorted(found.values(), key=lambda f: f.address)


def _char(client: BleakClient, value: int) -> BleakGATTCharacteristic | None:
    """The first characteristic with this 16-bit UUID, resolved to its handle-bearing object."""
    for service in client.services:
        for char in service.characteristics:
            if uuid16(char.uuid) == value:
                return char
    return None


async def read_device_info(client: BleakClient, name: str | None = None) -> DeviceInfo:
    """Reads manufacturer, model and serial from Device Information (0x180A) when present."""
    values: dict[int, str | None] = {}
    for value in (const.MANUFACTURER_NAME_STRING, const.MODEL_NUMBER_STRING, const.SERIAL_NUMBER_STRING):
        char = _char(client, value)
        if char is None:
            values[value] = None
            continue
        raw = await client.read_gatt_char(char)
        values[value] = bytes(raw).decode("utf-8", "replace").strip("\x00 ") or None
    return DeviceInfo(
        manufacturer=values[const.MANUFACTURER_NAME_STRING],
        model=values[const.MODEL_NUMBER_STRING],
        serial=values[const.SERIAL_NUMBER_STRING],
        name=name,
    )


async def pair_and_identify(address: str, options: BleOptions) -> DeviceInfo:
    """Connects, pairs (bonds) and reads Device Information: the BLE half of `vigil-gateway pair`."""
    async with BleakClient(address, timeout=options.connect_timeout, **options.client_kwargs) as client:
        try:
            await client.pair()
        except (BleakError, NotImplementedError) as exc:  # some stacks pair on demand only
            log.info("%s: explicit pairing not available (%s); pairing on demand", address, exc)
        return await read_device_info(client, client.name)


async def _with_pairing(client: BleakClient, action: Callable[[], Any]) -> Any:
    """Runs a GATT action; on an insufficient-security error pairs once and retries."""
    try:
        return await action()
    except BleakGATTProtocolError as exc:
        if int(exc.args[0]) not in _NEEDS_PAIRING:
            raise
        log.info("%s: %s; pairing", client.address, exc)
        await client.pair()
        return await action()


OnValue = Callable[[str, int, bytes, datetime | None], None]
# Waits `delay` seconds or until `stop` is set, whichever comes first (injected so tests need no clock).
Sleeper = Callable[[float, asyncio.Event], Awaitable[None]]


async def wait_or_stop(delay: float, stop: asyncio.Event) -> None:
    """The real sleeper: returns after `delay` seconds, or at once when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)


class DeviceSession:
    """Keeps one enrolled device connected: subscribe, backfill over RACP, reconnect with backoff."""

    def __init__(
        self,
        address: str,
        options: BleOptions,
        on_value: OnValue,
        last_seq: Callable[[str], int | None],
        rng: Callable[[], float] = random.random,
        sleep: Sleeper = wait_or_stop,
    ) -> None:
        self.address = normalize_address(address)
        self._options = options
        self._on_value = on_value
        self._last_seq = last_seq
        self._rng = rng
        self._sleep = sleep
        self.attempts = 0
        self.connects = 0
        self.backfills: list[racp.RacpResponse] = []
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Loops until `stop` is set; every failure leads to a jittered, growing wait."""
        attempt = 0
        while not stop.is_set():
            try:
                await self._session(stop)
                attempt = 0
            except (BleakError, TimeoutError, OSError, DecodeError) as exc:
                log.warning("%s: %r", self.address, exc)
            except Exception as exc:  # a backend's own error type must not end this device's session
                log.exception("%s: unexpected %r; reconnecting", self.address, exc)
            if stop.is_set():
                return
            delay = backoff_delay(attempt, self._options.backoff, self._rng())
            attempt += 1
            log.info("%s: reconnecting in %.2fs", self.address, delay)
            await self._sleep(delay, stop)

    async def _session(self, stop: asyncio.Event) -> None:
        gone = asyncio.Event()
        client = BleakClient(
            self.address,
            disconnected_callback=lambda _c: gone.set(),
            timeout=self._options.connect_timeout,
            **self._options.client_kwargs,
        )
        self.attempts += 1
        await client.connect()
        try:
            self.connects += 1
            # Snapshot before subscribing: live records arriving now must not move the backfill start.
            last_seen = self._last_seq(self.address)
            session_start = await self._session_start(client)
            for service in client.services:
                for char in service.characteristics:
                    if uuid16(char.uuid) in MEASUREMENT_CHARS:
                        await self._subscribe(client, char, session_start)
            racp_char = _char(client, const.RECORD_ACCESS_CONTROL_POINT)
            if racp_char is not None:
                await self._backfill(client, racp_char, last_seen)
            self.connected.set()
            waiters = [asyncio.ensure_future(gone.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        finally:
            self.connected.clear()
            if client.is_connected:
                await client.disconnect()

    async def _subscribe(
        self, client: BleakClient, char: BleakGATTCharacteristic, session_start: datetime | None
    ) -> None:
        deliver = self._deliver(session_start)

        async def start() -> None:
            await client.start_notify(char, deliver)

        await _with_pairing(client, start)

    def _deliver(
        self, session_start: datetime | None
    ) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def callback(char: BleakGATTCharacteristic, data: bytearray) -> None:
            value = uuid16(char.uuid)
            if value is not None:
                self._on_value(self.address, value, bytes(data), session_start)

        return callback

    async def _session_start(self, client: BleakClient) -> datetime | None:
        char = _char(client, CGM_SESSION_START_TIME)
        if char is None:
            return None
        raw = await _with_pairing(client, lambda: client.read_gatt_char(char))
        for m in decode(CGM_SESSION_START_TIME, bytes(raw)):
            if isinstance(m, CgmSessionStartTime):
                return m.start
        return None

    async def _backfill(
        self, client: BleakClient, char: BleakGATTCharacteristic, last_seen: int | None
    ) -> None:
        """Asks for stored records after the last one seen; they arrive as notifications, then a response."""
        responses: asyncio.Queue[bytes] = asyncio.Queue()
        def on_response(_c: BleakGATTCharacteristic, data: bytearray) -> None:
            responses.put_nowait(bytes(data))

        await _with_pairing(client, lambda: client.start_notify(char, on_response))
        request = racp.next_backfill_request(last_seen)
        await _with_pairing(client, lambda: client.write_gatt_char(char, request, response=True))
        raw = await asyncio.wait_for(responses.get(), self._options.racp_timeout)
        try:
            response = racp.parse_response(raw)
        except DecodeError as exc:
            log.warning("%s: bad RACP response %s", self.address, exc)
            return
        self.backfills.append(response)
        log.info("%s: RACP backfill from %s: %s", self.address, last_seen, response)
