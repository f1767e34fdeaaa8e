"""Emulated wearables: scenario files, stored records, RACP answers decoded by the gateway's own decoders."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bleak import BleakClient

from device_gateway import racp
from device_gateway.bumble_backend import BumbleClient
from device_gateway.emulator import payloads
from device_gateway.emulator.devices import EmulatedGlucoseMeter, Identity
from device_gateway.emulator.scenario import Scenario
from device_gateway.emulator.world import EmulatedWorld
from device_gateway.parsing import GlucoseContext, GlucoseMeasurement, decode

METER = "F1:00:00:00:00:02"


def full(u: int) -> str:
    return f"0000{u:04x}-0000-1000-8000-00805f9b34fb"


def test_scenario_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("minutes,mgdl\n0,100\n5,90\n\n10,80\n")
    s = Scenario.from_csv(path)
    assert s.points == ((0, 100.0), (5, 90.0), (10, 80.0))
    assert s.at(3) == (15, 100.0)  # repeats after the end, shifted by its span


def test_scenario_refuses_unordered_minutes(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("0,100\n0,90\n")
    with pytest.raises(ValueError):
        Scenario.from_csv(path)


def test_emulator_payloads_decode_with_the_gateway_decoders() -> None:
    at = datetime(2025, 1, 6, 7, 5, tzinfo=UTC)
    (m,) = decode(0x2A18, payloads.glucose_measurement(7, at, 104, context_follows=True))
    assert isinstance(m, GlucoseMeasurement) and m.sequence == 7
    (c,) = decode(0x2A34, payloads.glucose_context_carbs(7, 45))
    assert isinstance(c, GlucoseContext) and c.sequence == 7
    assert racp.parse_response(payloads.racp_response(1, payloads.RSP_NO_RECORDS)) == racp.RacpResult(1, 6)


@pytest.fixture
async def world() -> AsyncIterator[EmulatedWorld]:
    meter = EmulatedGlucoseMeter(Identity(METER, "m", "GLU-1", "S1"), Scenario.of([100, 110, 120]),
                                 require_encryption=False, carbs_every=0)
    w = await EmulatedWorld([meter]).start()
    yield w
    await w.close()


async def _ask(world: EmulatedWorld, request: bytes) -> tuple[list[bytes], racp.RacpResponse]:
    records: list[bytes] = []
    response: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    async with BleakClient(METER, backend=BumbleClient, world=world) as client:
        await client.start_notify(full(0x2A18), lambda _c, d: records.append(bytes(d)))
        await client.start_notify(full(0x2A52), lambda _c, d: response.set_result(bytes(d)))
        await client.write_gatt_char(full(0x2A52), request, response=True)
        raw = await asyncio.wait_for(response, 2)
    return records, racp.parse_response(raw)


async def test_meter_keeps_readings_taken_while_out_of_range(world: EmulatedWorld) -> None:
    meter = world.wearable(METER)
    await world.drop_link(METER)
    for _ in range(3):
        await meter.take_reading()
    await world.restore_link(METER)
    records, response = await _ask(world, racp.next_backfill_request(0))
    assert response == racp.RacpResult(1, 1)
    assert [m.sequence for r in records for m in decode(0x2A18, r)] == [1, 2]  # type: ignore[attr-defined]


async def test_meter_answers_no_records_and_counts(world: EmulatedWorld) -> None:
    records, response = await _ask(world, racp.next_backfill_request(None))
    assert records == [] and response == racp.RacpResult(1, 6)
    await world.wearable(METER).take_reading()
    _, count = await _ask(world, racp.count_all())
    assert count == racp.NumberOfRecords(1)


async def test_meter_refuses_unsupported_operators(world: EmulatedWorld) -> None:
    _, response = await _ask(world, bytes([0x01, 0x06]))  # last record: not implemented by this meter
    assert response == racp.RacpResult(1, 4)
