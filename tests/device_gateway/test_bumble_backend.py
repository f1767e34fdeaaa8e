"""bleak's public API over the bumble backend: scan, connect, read, notify, indicate, pair, RACP."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError

from device_gateway import bumble_backend
from device_gateway.bumble_backend import BumbleClient, BumbleScanner
from device_gateway.emulator.devices import EmulatedGlucoseMeter
from device_gateway.emulator.world import EmulatedWorld

CGM, METER, HR, BP = "F1:00:00:00:00:01", "F1:00:00:00:00:02", "F1:00:00:00:00:03", "F1:00:00:00:00:04"


def full(u: int) -> str:
    return f"0000{u:04x}-0000-1000-8000-00805f9b34fb"


@pytest.fixture
async def world() -> AsyncIterator[EmulatedWorld]:
    w = await EmulatedWorld().start()
    yield w
    await w.close()


async def test_scan_filters_on_service_uuids(world: EmulatedWorld) -> None:
    seen: dict[str, list[str]] = {}
    both = asyncio.Event()

    def cb(device, adv) -> None:  # type: ignore[no-untyped-def]
        seen[device.address] = adv.service_uuids
        if {CGM, METER} <= seen.keys():
            both.set()

    uuids = [full(0x181F), full(0x1808)]
    async with BleakScanner(cb, service_uuids=uuids, backend=BumbleScanner, world=world):
        await asyncio.wait_for(both.wait(), 5)
    assert set(seen) == {CGM, METER}  # the HR strap, cuff and oximeter are filtered out
    assert seen[CGM] == [full(0x181F)]


async def test_find_device_by_address_classmethod(world: EmulatedWorld) -> None:
    device = await BleakScanner.find_device_by_address(HR, timeout=5, backend=BumbleScanner, world=world)
    assert device is not None and device.name == "vigil-hr"


async def test_connect_discovers_services_by_handle_and_reads(world: EmulatedWorld) -> None:
    async with BleakClient(CGM, backend=BumbleClient, world=world) as client:
        assert client.is_connected
        char = client.services.get_characteristic(full(0x2AA7))
        assert char is not None and char.properties == ["notify"]
        assert client.services.get_characteristic(char.handle) is char
        assert char.get_descriptor(full(0x2902)) is not None  # the CCCD
        serial = client.services.get_characteristic(full(0x2A25))
        assert serial is not None
        assert await client.read_gatt_char(serial.handle) == b"CGM0001"
    assert not client.is_connected


async def test_notifications_and_indications_arrive(world: EmulatedWorld) -> None:
    cgm_values: asyncio.Queue[bytes] = asyncio.Queue()
    bp_values: asyncio.Queue[bytes] = asyncio.Queue()
    async with (
        BleakClient(CGM, backend=BumbleClient, world=world) as cgm,
        BleakClient(BP, backend=BumbleClient, world=world) as bp,
    ):
        await cgm.start_notify(full(0x2AA7), lambda _c, d: cgm_values.put_nowait(bytes(d)))
        await bp.start_notify(full(0x2A35), lambda _c, d: bp_values.put_nowait(bytes(d)))
        for _ in range(3):
            await world.wearable(CGM).take_reading()
        await world.wearable(BP).take_reading()
        got = [await asyncio.wait_for(cgm_values.get(), 2) for _ in range(3)]
        # size 6, flags 0, SFLOAT 112 (0x0070), offsets 0, 5, 10 minutes
        assert got == [bytes([6, 0, 0x70, 0x00, 0, 0]), bytes([6, 0, 0x76, 0x00, 5, 0]),
                       bytes([6, 0, 0x7E, 0x00, 10, 0])]
        indication = await asyncio.wait_for(bp_values.get(), 2)
        assert indication[0] == 0x04 and indication[1:3] == bytes([118, 0])


async def test_racp_needs_pairing_then_backfills_from_a_sequence(world: EmulatedWorld) -> None:
    meter = world.wearable(METER)
    assert isinstance(meter, EmulatedGlucoseMeter)
    for _ in range(5):
        await meter.take_reading()
    records: list[bytes] = []
    response: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    async with BleakClient(METER, backend=BumbleClient, world=world) as client:
        await client.start_notify(full(0x2A18), lambda _c, d: records.append(bytes(d)))
        await client.start_notify(full(0x2A52), lambda _c, d: response.set_result(bytes(d)))
        request = bytes([0x01, 0x03, 0x01, 0x02, 0x00])  # report stored records, seq >= 2
        with pytest.raises(BleakGATTProtocolError) as err:
            await client.write_gatt_char(full(0x2A52), request, response=True)
        assert int(err.value.args[0]) == 0x0F  # insufficient encryption
        await client.pair()
        await client.write_gatt_char(full(0x2A52), request, response=True)
        assert await asyncio.wait_for(response, 2) == bytes([0x06, 0x00, 0x01, 0x01])
    assert [int.from_bytes(r[1:3], "little") for r in records] == [2, 3, 4]


async def test_disconnect_callback_fires_when_the_device_drops(world: EmulatedWorld) -> None:
    dropped = asyncio.Event()
    client = BleakClient(
        HR, disconnected_callback=lambda _c: dropped.set(), backend=BumbleClient, world=world
    )
    await client.connect()
    await world.drop_link(HR)
    await asyncio.wait_for(dropped.wait(), 5)
    assert not client.is_connected


async def test_module_default_world(world: EmulatedWorld) -> None:
    bumble_backend.use_world(world)
    try:
        async with BleakClient(HR, backend=BumbleClient) as client:
            assert client.is_connected
    finally:
        bumble_backend.use_world(None)
