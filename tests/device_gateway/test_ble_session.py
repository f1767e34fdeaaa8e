"""DeviceSession against a device that never comes back: jittered, growing, capped waits; stops on request."""

import asyncio
from typing import Any

import pytest
from bleak.backends.client import BaseBleakClient
from bleak.exc import BleakError

from device_gateway.backoff import BackoffPolicy, ceiling
from device_gateway.ble import BleOptions, DeviceSession

ADDRESS = "F1:00:00:00:00:07"


class GoneClient(BaseBleakClient):
    """A bleak backend whose device is never in range: every connect fails."""

    attempts = 0
    failure: type[Exception] = BleakError

    @property
    def mtu_size(self) -> int:
        return 23

    @property
    def is_connected(self) -> bool:
        return False

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        type(self).attempts += 1
        raise self.failure(f"{self.address}: device not found")

    async def disconnect(self) -> None:
        return None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def unpair(self) -> None:
        raise NotImplementedError

    async def read_gatt_char(self, *args: Any, **kwargs: Any) -> bytearray:
        raise NotImplementedError

    async def read_gatt_descriptor(self, *args: Any, **kwargs: Any) -> bytearray:
        raise NotImplementedError

    async def write_gatt_char(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def write_gatt_descriptor(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def start_notify(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def stop_notify(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError


class Sleeper:
    """Records each requested wait instead of waiting; asks the session to stop after `limit` waits."""

    def __init__(self, limit: int) -> None:
        self.delays: list[float] = []
        self.limit = limit

    async def __call__(self, delay: float, stop: asyncio.Event) -> None:
        self.delays.append(delay)
        if len(self.delays) >= self.limit:
            stop.set()


def session(rng: float, sleeper: Sleeper, policy: BackoffPolicy, failure: type[Exception]) -> DeviceSession:
    GoneClient.attempts = 0
    GoneClient.failure = failure
    options = BleOptions(client_kwargs={"backend": GoneClient}, backoff=policy)
    return DeviceSession(ADDRESS, options, lambda *_: None, lambda _a: None, rng=lambda: rng, sleep=sleeper)


@pytest.mark.parametrize("failure", [BleakError, TimeoutError, OSError, RuntimeError])
async def test_a_device_that_never_comes_back_gets_growing_capped_waits(failure: type[Exception]) -> None:
    policy = BackoffPolicy(base=0.5, factor=2.0, cap=8.0, jitter=0.5)
    sleeper = Sleeper(limit=9)
    s = session(0.0, sleeper, policy, failure)
    await asyncio.wait_for(s.run(asyncio.Event()), 5)
    assert sleeper.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    assert GoneClient.attempts == s.attempts == 9 and s.connects == 0


@pytest.mark.parametrize("rng", [0.0, 0.25, 0.999])
async def test_jitter_keeps_every_wait_within_its_band(rng: float) -> None:
    policy = BackoffPolicy(base=1.0, factor=3.0, cap=20.0, jitter=0.4)
    sleeper = Sleeper(limit=6)
    await asyncio.wait_for(session(rng, sleeper, policy, BleakError).run(asyncio.Event()), 5)
    for attempt, delay in enumerate(sleeper.delays):
        top = ceiling(attempt, policy)
        assert top * (1 - policy.jitter) <= delay <= top
        assert delay == pytest.approx(top * (1 - policy.jitter * rng))


async def test_a_set_stop_ends_the_session_without_another_attempt() -> None:
    stop = asyncio.Event()
    stop.set()
    sleeper = Sleeper(limit=1)
    s = session(0.0, sleeper, BackoffPolicy(), BleakError)
    await asyncio.wait_for(s.run(stop), 5)
    assert s.attempts == 0 and sleeper.delays == []
