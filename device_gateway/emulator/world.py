"""The emulated world: one bumble LocalLink, the gateway radio and the wearables, built in a running loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from device_gateway.emulator.devices import Wearable, default_wearables

GATEWAY_ADDRESS = "F0:F0:F0:F0:F0:F0"


class EmulatedWorld:
    """Owns the link, the gateway-side bumble device (`radio`) and the wearables."""

    def __init__(self, wearables: Sequence[Wearable] | None = None) -> None:
        self.wearables = list(wearables) if wearables is not None else default_wearables()
        self.link: LocalLink | None = None
        self.radio: Device | None = None
        self.connect_lock: asyncio.Lock | None = None
        self._scan_users = 0
        self._scan_lock: asyncio.Lock | None = None

    async def start(self) -> EmulatedWorld:
        """Creates controllers and devices; must be awaited inside the loop that will use them."""
        self.link = LocalLink()
        self.connect_lock = asyncio.Lock()
        self._scan_lock = asyncio.Lock()
        controller = Controller("gateway", link=self.link, public_address=GATEWAY_ADDRESS)
        host = Host(controller, AsyncPipeSink(controller))
        self.radio = Device(name="vigil-gateway", address=Address(GATEWAY_ADDRESS), host=host)
        await self.radio.power_on()
        for wearable in self.wearables:
            await wearable.attach(self.link)
        return self

    async def __aenter__(self) -> EmulatedWorld:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def wearable(self, address: str) -> Wearable:
        key = address.split("/", 1)[0].upper()
        for w in self.wearables:
            if w.address == key:
                return w
        raise KeyError(address)

    async def acquire_scan(self) -> None:
        """Starts the radio's scan for the first scanner user (refcounted)."""
        assert self.radio is not None and self._scan_lock is not None
        async with self._scan_lock:
            self._scan_users += 1
            if self._scan_users == 1:
                await self.radio.start_scanning(filter_duplicates=False)

    async def release_scan(self) -> None:
        assert self.radio is not None and self._scan_lock is not None
        async with self._scan_lock:
            self._scan_users -= 1
            if self._scan_users == 0 and self.radio.scanning:
                await self.radio.stop_scanning()

    async def connect(self, address: str, timeout: float) -> Connection:
        """One pending LE connect per radio: connects are serialised."""
        assert self.radio is not None and self.connect_lock is not None
        async with self.connect_lock:
            return await self.radio.connect(Address(address.split("/", 1)[0]), timeout=timeout)

    async def drop_link(self, address: str) -> None:
        """The wearable goes out of range: link dropped, no advertising, readings kept on the device."""
        await self.wearable(address).go_out_of_range()

    async def restore_link(self, address: str) -> None:
        await self.wearable(address).come_back()

    async def take_readings(self) -> None:
        """Every wearable takes one reading."""
        for w in self.wearables:
            await w.take_reading()

    async def close(self) -> None:
        for w in self.wearables:
            await w.close()
        if self.radio is not None:
            await self.radio.power_off()


__all__ = ["GATEWAY_ADDRESS", "Advertisement", "EmulatedWorld"]
