"""The emulated world: one bumble LocalLink, the gateway radio and the wearables, built in a running loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from bumble import hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from device_gateway.emulator.devices import Wearable, default_wearables

GATEWAY_ADDRESS = "F0:F0:F0:F0:F0:F0"
PERIPHERAL_CONFIRM_S = 2.0  # bound on the wearable's side of a new link showing up (normally one loop turn)


class CancellingController(Controller):
    """bumble's Controller with LE Create Connection Cancel done as the spec says (Vol 4 Part E 7.8.13).

    bumble 0.0.236 answers the cancel with success but keeps `pending_le_connection`, so after one timed
    out connect every later LE Create Connection is refused (Command Disallowed) and the host waits for
    ever for a completion that never comes. A real controller clears the pending connect and reports an
    LE Connection Complete with status Unknown Connection Identifier; this does the same.
    """

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        failure = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address.address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        # After the Command Complete that the caller sends for this return value.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, failure)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


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
        self.link = LocalLink()  # type: ignore[no-untyped-call]  # bumble leaves it untyped
        self.connect_lock = asyncio.Lock()
        self._scan_lock = asyncio.Lock()
        controller = CancellingController("gateway", link=self.link, public_address=GATEWAY_ADDRESS)
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
        """Connects like a real central: only to a device just seen advertising, one connect at a time.

        Waiting for an advertisement first means an out-of-range wearable fails fast with TimeoutError
        and no LE Create Connection is left pending. bumble's central reports success as soon as it sends
        CONNECT_IND, even when the wearable stopped advertising in that instant and never hears it; such a
        one-sided link is dropped here instead of timing out later in GATT discovery.
        """
        assert self.radio is not None and self.connect_lock is not None
        peer = address.split("/", 1)[0].upper()
        deadline = asyncio.get_running_loop().time() + timeout
        async with self.connect_lock:
            await self.wait_advertising(peer, timeout)
            left = max(deadline - asyncio.get_running_loop().time(), 0.1)
            connection = await self.radio.connect(Address(peer), timeout=left)
            wearable = self._wearable_or_none(peer)
            if wearable is not None and not await wearable.wait_connected(PERIPHERAL_CONFIRM_S):
                await self._drop_one_sided(connection)
                raise TimeoutError(f"{peer} did not accept the connection (it stopped advertising)")
            return connection

    async def wait_advertising(self, address: str, timeout: float) -> None:
        """Returns once the radio hears an advertisement from `address`; TimeoutError otherwise."""
        assert self.radio is not None
        radio = self.radio
        seen = asyncio.Event()

        def on_advertisement(adv: Advertisement) -> None:
            if str(adv.address).split("/", 1)[0].upper() == address:
                seen.set()

        radio.on(radio.EVENT_ADVERTISEMENT, on_advertisement)
        await self.acquire_scan()
        try:
            await asyncio.wait_for(seen.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{address} is not advertising (out of range?)") from None
        finally:
            radio.remove_listener(radio.EVENT_ADVERTISEMENT, on_advertisement)
            await self.release_scan()

    def _wearable_or_none(self, address: str) -> Wearable | None:
        try:
            return self.wearable(address)
        except KeyError:
            return None

    @staticmethod
    async def _drop_one_sided(connection: Connection) -> None:
        """The central side tears the link down by itself (bumble's Disconnect needs no peer answer)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.disconnect(), PERIPHERAL_CONFIRM_S)

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
