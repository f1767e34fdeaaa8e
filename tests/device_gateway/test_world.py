"""The emulated world's connect: out-of-range wearables fail fast and never wedge the gateway radio."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from bleak.exc import BleakError
from bumble import core
from bumble.hci import Address
from bumble.pairing import PairingConfig, PairingDelegate

from device_gateway.bumble_backend import BumbleClient
from device_gateway.emulator.devices import EmulatedHeartRate, Identity
from device_gateway.emulator.world import EmulatedWorld

HR = "F1:00:00:00:00:03"


@pytest.fixture
async def world() -> AsyncIterator[EmulatedWorld]:
    w = await EmulatedWorld([EmulatedHeartRate(Identity(HR, "hr", "HRS-1", "S1"))]).start()
    yield w
    await w.close()


async def test_connect_to_an_out_of_range_wearable_times_out_then_reconnects(world: EmulatedWorld) -> None:
    await world.drop_link(HR)
    with pytest.raises(TimeoutError, match="not advertising"):
        await world.connect(HR, timeout=0.2)
    await world.restore_link(HR)
    connection = await world.connect(HR, timeout=5)
    assert world.wearable(HR).connection is not None
    await connection.disconnect()


async def test_a_cancelled_le_connect_leaves_the_radio_able_to_connect(world: EmulatedWorld) -> None:
    """The radio's own create-connection, timed out while the wearable is silent, is really cancelled."""
    assert world.radio is not None
    await world.drop_link(HR)
    with pytest.raises(core.TimeoutError):
        await world.radio.connect(Address(HR), timeout=0.2)
    await world.restore_link(HR)
    connection = await world.radio.connect(Address(HR), timeout=5)
    assert connection.peer_address == Address(HR)
    await connection.disconnect()


class StallingDelegate(PairingDelegate):
    """The wearable's user never confirms pairing; the test learns when the request got there."""

    def __init__(self, asked: asyncio.Event) -> None:
        super().__init__()
        self.asked = asked

    async def accept(self) -> bool:
        self.asked.set()
        await asyncio.Event().wait()  # never answered
        return False


async def test_a_link_lost_during_pairing_fails_the_pairing_instead_of_hanging(world: EmulatedWorld) -> None:
    """bumble aborts such an exchange with a CancelledError, which would end the device's session for good."""
    asked = asyncio.Event()
    wearable = world.wearable(HR)
    assert wearable.device is not None
    wearable.device.pairing_config_factory = lambda _c: PairingConfig(delegate=StallingDelegate(asked))
    client = BumbleClient(HR, world=world, timeout=5.0)
    await client.connect(pair=False)
    pairing = asyncio.create_task(client.pair())
    await asyncio.wait_for(asked.wait(), 5)
    await world.drop_link(HR)
    with pytest.raises(BleakError, match="disconnected"):
        await asyncio.wait_for(pairing, 5)
    assert not client.is_connected
