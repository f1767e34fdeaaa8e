"""A bleak backend over bumble: real ATT/GATT on an in-process LocalLink, for the emulated wearables."""

from __future__ import annotations

import asyncio
import contextlib
import uuid as uuidlib
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att
from bumble.core import UUID, AdvertisingData, BaseBumbleError
from bumble.device import Advertisement, Connection, Peer
from bumble.gatt import Characteristic
from bumble.gatt_client import CharacteristicProxy

from device_gateway.emulator.world import EmulatedWorld

_default_world: EmulatedWorld | None = None
T = TypeVar("T")

_PROPS: tuple[tuple[Characteristic.Properties, str], ...] = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
    (Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)


@contextlib.contextmanager
def _gatt_errors(address: str) -> Iterator[None]:
    """bumble's own errors (a GATT timeout, a failed pairing) as the bleak errors gateway code expects."""
    try:
        yield
    except att.ATT_Error as exc:
        raise BleakGATTProtocolError(exc.error_code) from exc
    except (BaseBumbleError, TimeoutError) as exc:
        raise BleakError(f"{address}: {exc!r}") from exc


def use_world(world: EmulatedWorld | None) -> None:
    """Sets the world that backend instances use when no `world=` keyword reaches them."""
    global _default_world  # noqa: PLW0603 - bleak instantiates backends itself
    _default_world = world


def _world(kwargs: dict[str, Any]) -> EmulatedWorld:
    world = kwargs.get("world") or _default_world
    if world is None or world.radio is None:
        raise BleakError("no emulated world: pass world=... or call bumble_backend.use_world() after start()")
    return world


def bleak_uuid(u: UUID) -> str:
    """bumble's little-endian UUID as bleak's lower-case 128-bit string."""
    return str(uuidlib.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


def strip_address(address: object) -> str:
    """bumble prints public addresses with a '/P' suffix; bleak addresses have none."""
    return str(address).split("/", 1)[0].upper()


def advertisement_data(adv: Advertisement) -> tuple[str | None, AdvertisementData]:
    """Parses the raw AD structures of one advertisement into bleak's AdvertisementData."""
    name: str | None = None
    uuids: list[str] = []
    service_data: dict[str, bytes] = {}
    manufacturer: dict[int, bytes] = {}
    for ad_type, data in adv.data.ad_structures:
        if ad_type in (AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME):
            name = data.decode("utf-8", "replace")
        elif ad_type in (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                         AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS):
            uuids += [bleak_uuid(UUID.from_bytes(data[i:i + 2])) for i in range(0, len(data) - 1, 2)]
        elif ad_type in (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                         AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS):
            uuids += [bleak_uuid(UUID.from_bytes(data[i:i + 16])) for i in range(0, len(data) - 15, 16)]
        elif ad_type == AdvertisingData.SERVICE_DATA_16_BIT_UUID and len(data) >= 2:
            service_data[bleak_uuid(UUID.from_bytes(data[:2]))] = bytes(data[2:])
        elif ad_type == AdvertisingData.MANUFACTURER_SPECIFIC_DATA and len(data) >= 2:
            manufacturer[int.from_bytes(data[:2], "little")] = bytes(data[2:])
    tx = None if adv.tx_power == adv.TX_POWER_NOT_AVAILABLE else adv.tx_power
    return name, AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=list(dict.fromkeys(uuids)),
        tx_power=tx,
        rssi=adv.rssi,
        platform_data=(adv,),
    )


class BumbleScanner(BaseBleakScanner):
    """Scans the emulated link through the gateway radio; honours bleak's service UUID filter."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._world_kwargs = {"world": kwargs.get("world")}
        self._scanning = False

    async def start(self) -> None:
        world = _world(self._world_kwargs)
        assert world.radio is not None
        self.seen_devices = {}
        world.radio.on(world.radio.EVENT_ADVERTISEMENT, self._on_advertisement)
        await world.acquire_scan()
        self._scanning = True

    async def stop(self) -> None:
        if not self._scanning:
            return
        world = _world(self._world_kwargs)
        assert world.radio is not None
        world.radio.remove_listener(world.radio.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._scanning = False
        await world.release_scan()

    def _on_advertisement(self, adv: Advertisement) -> None:
        name, data = advertisement_data(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = strip_address(adv.address)
        device = self.create_or_update_device(address, address, name, {"address": adv.address}, data)
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """A GATT client over a bumble connection; characteristics are addressed by handle."""

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=float(kwargs.get("timeout", 10.0)),
        )
        self.address = strip_address(self.address)
        self._world_kwargs = {"world": kwargs.get("world")}
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._proxies: dict[int, CharacteristicProxy[bytes]] = {}
        self._subscribers: dict[int, Any] = {}
        self._gone: asyncio.Event = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        world = _world(self._world_kwargs)
        try:
            connection = await world.connect(self.address, timeout=self._timeout)
        except Exception as exc:
            raise BleakError(f"could not connect to {self.address}: {exc!r}") from exc
        self._connection = connection
        self._gone = asyncio.Event()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            if pair:
                await self.pair()
            self._peer = Peer(connection)
            self.services = await self._while_linked(self._discover(self._peer))
        except BaseException:
            await self.disconnect()
            raise

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        self._proxies = {}
        for service in await peer.discover_services():
            bservice = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
            collection.add_service(bservice)
            for char in await peer.discover_characteristics(service=service):
                self._proxies[char.handle] = char
                props = [name for bit, name in _PROPS if char.properties & bit]
                bchar = BleakGATTCharacteristic(
                    char, char.handle, bleak_uuid(char.uuid), props,  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3, bservice,
                )
                collection.add_characteristic(bchar)
                for desc in await peer.discover_descriptors(characteristic=char):
                    bdesc = BleakGATTDescriptor(desc, desc.handle, bleak_uuid(desc.type), bchar)
                    collection.add_descriptor(bdesc)
        return collection

    async def _while_linked(self, operation: Awaitable[T]) -> T:
        """Runs one ATT/SMP exchange; if the link drops meanwhile it fails with BleakError, as BlueZ does.

        bumble leaves such an exchange (pairing, above all) waiting for an answer that can no longer come.
        """
        op = asyncio.ensure_future(operation)
        gone = asyncio.ensure_future(self._gone.wait())
        try:
            await asyncio.wait({op, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not op.done():
                op.cancel()
                with contextlib.suppress(BaseException):
                    await op
        if op.cancelled():
            raise BleakError(f"{self.address}: disconnected during a GATT operation")
        with _gatt_errors(self.address):
            return op.result()

    def _on_disconnection(self, *_: object) -> None:
        self._connection = None
        self._peer = None
        self._subscribers = {}
        self._gone.set()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        callback, self._disconnected_callback = self._disconnected_callback, None  # solicited: no callback
        try:
            await connection.disconnect()
            await asyncio.wait_for(self._gone.wait(), timeout=self._timeout)
        except Exception:
            self._on_disconnection()
        finally:
            self._disconnected_callback = callback

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        connection = self._require_connection()
        try:
            await self._while_linked(connection.pair())
        except BleakError:
            raise
        except Exception as exc:
            raise BleakError(f"pairing with {self.address} failed: {exc!r}") from exc

    async def unpair(self) -> None:
        world = _world(self._world_kwargs)
        assert world.radio is not None
        if world.radio.keystore is not None:
            with contextlib.suppress(KeyError):
                await world.radio.keystore.delete(self.address)
        await self.disconnect()

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError(f"{self.address}: not connected")
        return self._connection

    def _require_peer(self) -> Peer:
        self._require_connection()
        assert self._peer is not None
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(characteristic.handle)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(descriptor.handle)

    async def _read(self, handle: int) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._while_linked(peer.read_value(handle)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        await self._write(characteristic.handle, bytes(data), response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        await self._write(descriptor.handle, bytes(data), True)

    async def _write(self, handle: int, data: bytes, response: bool) -> None:
        peer = self._require_peer()
        await self._while_linked(peer.write_value(handle, data, with_response=response))

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:
        peer = self._require_peer()
        proxy = self._proxies[characteristic.handle]

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = deliver
        await self._while_linked(peer.subscribe(proxy, deliver, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        deliver = self._subscribers.pop(characteristic.handle, None)
        await self._while_linked(peer.unsubscribe(self._proxies[characteristic.handle], deliver))
