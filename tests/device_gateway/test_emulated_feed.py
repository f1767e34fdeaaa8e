"""The demo feed's pure parts: the accelerated patient clock, reading lines and the wearable set."""

from datetime import UTC, datetime, timedelta

from device_gateway.emulated_feed import AcceleratedClock, demo_wearables, describe_reading
from device_gateway.emulator.devices import EmulatedCgm, EmulatedHeartRate
from monitor.records import Reading, ReadingKind, Source, reading_id_for

START = datetime(2025, 5, 1, 7, 0, tzinfo=UTC)


class Wall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_clock_is_frozen_until_run_then_runs_at_speed() -> None:
    wall = Wall()
    clock = AcceleratedClock(START, speed=750.0, wall=wall)
    wall.t += 5
    assert clock() == START
    clock.run()
    wall.t += 0.4
    assert clock() == START + timedelta(minutes=5)


def test_the_cgm_session_starts_on_the_clock_so_event_and_receive_times_agree() -> None:
    cgm, strap = demo_wearables([120.0, 110.0], START)
    assert isinstance(cgm, EmulatedCgm) and isinstance(strap, EmulatedHeartRate)
    assert cgm.session_start == START and cgm.scenario.at(1) == (5, 110.0)


def test_a_reading_line_shows_kind_time_value_and_unit() -> None:
    r = Reading(reading_id=reading_id_for("d", "cgm", 1, START), patient_key="pk_" + "a" * 32, device_id="dev",
                kind=ReadingKind.CGM, value=66.0, unit="mg/dL", measured_at=START, received_at=START,
                source=Source.BLE, sequence=1)
    assert describe_reading(r) == "  cgm        07:00Z    66 mg/dL  from dev"
