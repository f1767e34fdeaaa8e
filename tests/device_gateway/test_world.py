"""The emulated world's connect: out-of-range wearables fail fast and never wedge the gateway radio."""

from collections.abc import AsyncIterator

import pytest
from bumble import core
from bumble.hci import Address

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
