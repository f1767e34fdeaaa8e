"""Emulated wearables as bumble GATT servers: CGM, glucose meter with RACP, HR strap, BP cuff, oximeter."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from device_gateway.emulator import payloads as p
from device_gateway.emulator.scenario import DEFAULT, Scenario

log = logging.getLogger(__name__)

Props = Characteristic.Properties
Perm = Characteristic.Permissions
EPOCH = datetime(2025, 1, 6, 7, 0, tzinfo=UTC)


def _u16(x: int) -> UUID:
    return UUID.from_16_bits(x)


def device_information(manufacturer: str, model: str, serial: str) -> Service:
    """Device Information service (0x180A): manufacturer, model and serial number strings."""
    return Service(
        _u16(0x180A),
        [
            Characteristic(_u16(0x2A29), Props.READ, Perm.READABLE, manufacturer.encode()),
            Characteristic(_u16(0x2A24), Props.READ, Perm.READABLE, model.encode()),
            Characteristic(_u16(0x2A25), Props.READ, Perm.READABLE, serial.encode()),
        ],
    )


@dataclass
class Identity:
    """How a wearable presents itself: address, advertised name and Device Information strings."""

    address: str
    name: str
    model: str
    serial: str
    manufacturer: str = "Vigil Emulated Devices"


class Wearable:
    """Base class: one bumble controller + device on the shared link, advertising its health service."""

    service_uuid16: int = 0

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.device: Device | None = None
        self.connection: Connection | None = None
        self.in_range = True
        self.readings_taken = 0
        self._connected = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return self.identity.address

    def services(self) -> list[Service]:
        raise NotImplementedError

    async def attach(self, link: LocalLink) -> None:
        """Builds the controller and device on `link` (needs a running loop), powers on, advertises."""
        controller = Controller(self.identity.name, link=link, public_address=self.address)
        device = Device(
            name=self.identity.name,
            address=Address(self.address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        device.add_services([
            *self.services(),
            device_information(self.identity.manufacturer, self.identity.model, self.identity.serial),
        ])
        device.advertising_data = bytes(
            AdvertisingData([
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                 struct.pack("<H", self.service_uuid16)),
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.identity.name.encode()),
            ])
        )
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self.device = device
        await device.power_on()
        await self.advertise()

    async def advertise(self) -> None:
        assert self.device is not None
        if self.in_range and self.connection is None:
            await self.device.start_advertising(advertising_interval_min=20, advertising_interval_max=20)

    @property
    def subscribed(self) -> bool:
        """True while some gateway has notifications or indications enabled on this wearable."""
        if self.device is None:
            return False
        subscribers = self.device.gatt_server.subscribers
        return any(v != b"\x00\x00" for cccds in subscribers.values() for v in cccds.values())

    async def wait_connected(self, timeout: float) -> bool:
        """True once this wearable's side of a link exists (False after `timeout` seconds)."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        self._connected.set()
        connection.on(connection.EVENT_DISCONNECTION, lambda *_: self._on_disconnection())

    def _on_disconnection(self) -> None:
        self.connection = None
        self._connected.clear()
        if self.in_range:
            task = asyncio.get_running_loop().create_task(self.advertise())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def go_out_of_range(self) -> None:
        """Drops the link and stops advertising; the device keeps taking (and storing) readings."""
        self.in_range = False
        assert self.device is not None
        await self.device.stop_advertising()
        if self.connection is not None:
            await self.connection.disconnect()

    async def come_back(self) -> None:
        """Advertises again so the gateway can reconnect."""
        self.in_range = True
        await self.advertise()

    async def take_reading(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        self.in_range = False
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.device is not None:
            await self.device.power_off()


class EmulatedCgm(Wearable):
    """CGM service (0x181F): measurement notifications with a time offset from the session start time."""

    service_uuid16 = 0x181F

    def __init__(
        self, identity: Identity, scenario: Scenario = DEFAULT, session_start: datetime = EPOCH
    ) -> None:
        super().__init__(identity)
        self.scenario = scenario
        self.session_start = session_start
        self.measurement = Characteristic(_u16(0x2AA7), Props.NOTIFY, Perm(0), b"")
        self.sent: list[tuple[int, float]] = []

    def services(self) -> list[Service]:
        return [
            Service(
                _u16(0x181F),
                [
                    self.measurement,
                    Characteristic(_u16(0x2AA8), Props.READ, Perm.READABLE, p.cgm_feature()),
                    Characteristic(
                        _u16(0x2AAA), Props.READ, Perm.READABLE, p.cgm_session_start(self.session_start)
                    ),
                ],
            )
        ]

    async def take_reading(self) -> None:
        """Measures the next scenario point and notifies it (a CGM does not store for RACP here)."""
        minute, value = self.scenario.at(self.readings_taken)
        self.readings_taken += 1
        self.sent.append((minute, value))
        assert self.device is not None
        if self.connection is not None:
            await self.device.notify_subscribers(self.measurement, p.cgm_measurement(value, minute))


@dataclass(frozen=True)
class StoredRecord:
    seq: int
    at: datetime
    mgdl: float
    carbs_g: float | None


class EmulatedGlucoseMeter(Wearable):
    """Glucose service (0x1808) with stored records and a Record Access Control Point (0x2A52)."""

    service_uuid16 = 0x1808

    def __init__(
        self,
        identity: Identity,
        scenario: Scenario = DEFAULT,
        start: datetime = EPOCH,
        require_encryption: bool = True,
        carbs_every: int = 4,
    ) -> None:
        super().__init__(identity)
        self.scenario = scenario
        self.start = start
        self.carbs_every = carbs_every
        self.records: list[StoredRecord] = []
        self.racp_requests: list[bytes] = []
        self.measurement = Characteristic(_u16(0x2A18), Props.NOTIFY, Perm(0), b"")
        self.context = Characteristic(_u16(0x2A34), Props.NOTIFY, Perm(0), b"")
        write_perm = Perm.WRITEABLE | (Perm.WRITE_REQUIRES_ENCRYPTION if require_encryption else Perm(0))
        self.racp: Characteristic[bytes] = Characteristic(
            _u16(0x2A52), Props.WRITE | Props.INDICATE, write_perm,
            CharacteristicValue(write=self._on_racp),
        )
        self._busy = False
        self._tasks: set[asyncio.Task[None]] = set()

    def services(self) -> list[Service]:
        feature = Characteristic(_u16(0x2A51), Props.READ, Perm.READABLE, p.glucose_feature())
        return [Service(_u16(0x1808), [self.measurement, self.context, feature, self.racp])]

    def _record_payloads(self, r: StoredRecord) -> list[tuple[Characteristic[bytes], bytes]]:
        measurement = p.glucose_measurement(r.seq, r.at, r.mgdl, context_follows=r.carbs_g is not None)
        out = [(self.measurement, measurement)]
        if r.carbs_g is not None:
            out.append((self.context, p.glucose_context_carbs(r.seq, r.carbs_g)))
        return out

    async def take_reading(self) -> None:
        """Stores the next scenario point as a record; notifies it live when a gateway is subscribed."""
        minute, value = self.scenario.at(self.readings_taken)
        seq = self.readings_taken
        self.readings_taken += 1
        carbs = 30.0 + seq if self.carbs_every and seq % self.carbs_every == 0 else None
        record = StoredRecord(seq, self.start + timedelta(minutes=minute), value, carbs)
        self.records.append(record)
        assert self.device is not None
        if self.connection is not None:
            for char, payload in self._record_payloads(record):
                await self.device.notify_subscribers(char, payload)

    def _on_racp(self, connection: Connection, value: bytes) -> None:
        # Answer after the ATT write response has gone out: records as notifications, then the
        # response code as an indication (GLS 3.6).
        self.racp_requests.append(bytes(value))
        task = asyncio.get_running_loop().create_task(self._answer(connection, bytes(value)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _select(self, request: bytes) -> tuple[list[StoredRecord] | None, int]:
        if len(request) < 2:
            return None, p.RSP_INVALID_OPERATOR
        op, operator = request[0], request[1]
        if op not in (p.RACP_REPORT_STORED, p.RACP_REPORT_NUMBER):
            return None, p.RSP_OPCODE_NOT_SUPPORTED
        if operator == p.OP_ALL:
            chosen = list(self.records)
        elif operator == p.OP_GREATER_OR_EQUAL:
            if len(request) != 5:
                return None, p.RSP_INVALID_OPERAND
            if request[2] != p.FILTER_SEQUENCE:
                return None, p.RSP_OPERAND_NOT_SUPPORTED
            (low,) = struct.unpack_from("<H", request, 3)
            chosen = [r for r in self.records if r.seq >= low]
        else:
            return None, p.RSP_OPERATOR_NOT_SUPPORTED
        return chosen, p.RSP_SUCCESS if chosen else p.RSP_NO_RECORDS

    async def _answer(self, connection: Connection, request: bytes) -> None:
        assert self.device is not None
        chosen, code = self._select(request)
        try:
            if chosen is not None and request[0] == p.RACP_REPORT_NUMBER:
                await self.device.indicate_subscriber(connection, self.racp, p.racp_number(len(chosen)))
                return
            for record in chosen or []:
                for char, payload in self._record_payloads(record):
                    await self.device.notify_subscriber(connection, char, payload)
            await self.device.indicate_subscriber(connection, self.racp, p.racp_response(request[0], code))
        except Exception as exc:  # the link dropped mid-transfer: the gateway asks again on reconnect
            log.info("meter %s: RACP answer interrupted: %r", self.address, exc)


class EmulatedHeartRate(Wearable):
    """Heart Rate service (0x180D): measurement notifications."""

    service_uuid16 = 0x180D

    def __init__(self, identity: Identity, bpm: Callable[[int], int] = lambda i: 60 + (i * 7) % 40) -> None:
        super().__init__(identity)
        self.bpm = bpm
        self.measurement = Characteristic(_u16(0x2A37), Props.NOTIFY, Perm(0), b"")

    def services(self) -> list[Service]:
        location = Characteristic(_u16(0x2A38), Props.READ, Perm.READABLE, bytes([1]))
        return [Service(_u16(0x180D), [self.measurement, location])]

    async def take_reading(self) -> None:
        value = self.bpm(self.readings_taken)
        self.readings_taken += 1
        assert self.device is not None
        if self.connection is not None:
            await self.device.notify_subscribers(self.measurement, p.heart_rate(value))


class EmulatedBpCuff(Wearable):
    """Blood Pressure service (0x1810): measurement indications."""

    service_uuid16 = 0x1810

    def __init__(self, identity: Identity) -> None:
        super().__init__(identity)
        self.measurement = Characteristic(_u16(0x2A35), Props.INDICATE, Perm(0), b"")

    def services(self) -> list[Service]:
        feature = Characteristic(_u16(0x2A49), Props.READ, Perm.READABLE, b"\x00\x00")
        return [Service(_u16(0x1810), [self.measurement, feature])]

    async def take_reading(self) -> None:
        i = self.readings_taken
        self.readings_taken += 1
        sys_, dia = 118 + (i * 3) % 20, 76 + (i * 2) % 10
        assert self.device is not None
        if self.connection is not None:
            await self.device.indicate_subscribers(
                self.measurement, p.blood_pressure(sys_, dia, round((sys_ + 2 * dia) / 3), 70 + i % 10)
            )


class EmulatedOximeter(Wearable):
    """Pulse Oximeter service (0x1822): spot-check indications."""

    service_uuid16 = 0x1822

    def __init__(self, identity: Identity) -> None:
        super().__init__(identity)
        self.spot = Characteristic(_u16(0x2A5E), Props.INDICATE, Perm(0), b"")

    def services(self) -> list[Service]:
        features = Characteristic(_u16(0x2A60), Props.READ, Perm.READABLE, p.plx_features())
        return [Service(_u16(0x1822), [self.spot, features])]

    async def take_reading(self) -> None:
        i = self.readings_taken
        self.readings_taken += 1
        assert self.device is not None
        if self.connection is not None:
            await self.device.indicate_subscribers(self.spot, p.plx_spot_check(97 - i % 4, 72 + i % 6))


def default_wearables(scenario: Scenario = DEFAULT, **kwargs: Any) -> list[Wearable]:
    """The demo set, at fixed addresses so enrolments survive a restart of the emulated world."""
    return [
        EmulatedCgm(Identity("F1:00:00:00:00:01", "vigil-cgm", "CGM-1", "CGM0001"), scenario),
        EmulatedGlucoseMeter(Identity("F1:00:00:00:00:02", "vigil-meter", "GLU-1", "GLU0002"), scenario),
        EmulatedHeartRate(Identity("F1:00:00:00:00:03", "vigil-hr", "HRS-1", "HRS0003")),
        EmulatedBpCuff(Identity("F1:00:00:00:00:04", "vigil-bp", "BPC-1", "BPC0004")),
        EmulatedOximeter(Identity("F1:00:00:00:00:05", "vigil-spo2", "OXI-1", "OXI0005")),
    ]
