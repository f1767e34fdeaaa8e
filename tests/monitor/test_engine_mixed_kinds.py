"""A reading of one kind never moves another kind's episode: heart rate must not hold a low open."""

from __future__ import annotations

from monitor.records import AlertState, ReadingKind
from monitor.testing import MonitorHarness, cgm_series, reading

DROP_AND_RECOVER = [120, 110, 100, 90, 80, 72, 66, 60, 55, 50, 48, 52, 60, 70, 82, 92, 100, 108, 112, 115, 118, 120]


def low_states(alerts):
    return [a.state for a in alerts if a.kind in ("low", "urgent_low", "urgent_low_soon", "predicted_low")]


def run(with_heart_rate: bool):
    harness = MonitorHarness()
    alerts = []
    for i, r in enumerate(cgm_series(DROP_AND_RECOVER)):
        alerts += harness.feed(r)
        if with_heart_rate and i % 3 == 0:
            alerts += harness.feed(reading(72.0, i * 5 + 1, kind=ReadingKind.HEART_RATE, device="hr-1"))
    return alerts


def test_heart_rate_readings_do_not_keep_a_low_open():
    without = run(with_heart_rate=False)
    with_hr = run(with_heart_rate=True)
    assert AlertState.RESOLVED in low_states(without)
    assert low_states(with_hr) == low_states(without)
