"""Vital-sign rules, table-driven: defaults, confirmations and patient baselines."""

from __future__ import annotations

import pytest

from monitor.records import ReadingKind
from monitor.targets import Targets
from monitor.testing import MonitorHarness, reading

HR, SPO2, BP, TEMP, WT = (ReadingKind.HEART_RATE, ReadingKind.SPO2, ReadingKind.BLOOD_PRESSURE,
                          ReadingKind.TEMPERATURE, ReadingKind.WEIGHT)


def feed(kind, items, targets=None):
    h = MonitorHarness()
    if targets:
        h.targets["p1"] = targets
    out = []
    for minute, value, *comps in items:
        out += h.feed(reading(value, minute, kind=kind, device=kind.value,
                              components=comps[0] if comps else None))
    return [(a.kind, a.state.value) for a in out]


@pytest.mark.parametrize(("kind", "items", "expected", "targets"), [
    (HR, [(0, 140)], [], None),  # one reading is not "sustained"
    (HR, [(0, 140), (5, 142)], [("vitals_heart_rate", "open")], None),
    (HR, [(0, 35), (5, 36)], [("vitals_heart_rate", "open")], None),
    (HR, [(0, 140), (30, 142)], [], None),  # too far apart to confirm
    (HR, [(0, 140), (5, 142), (10, 80)], [("vitals_heart_rate", "open"), ("vitals_heart_rate", "resolved")], None),
    (HR, [(0, 105), (5, 106)], [("vitals_heart_rate", "open")], Targets(hr_baseline=60)),  # baseline + 40
    (SPO2, [(0, 87)], [("vitals_spo2_urgent", "open")], None),
    (SPO2, [(0, 89)], [], None),
    (SPO2, [(0, 89), (5, 89)], [("vitals_spo2", "open")], None),
    (SPO2, [(0, 89), (5, 89)], [], Targets(spo2_baseline=92)),  # COPD baseline: 89 is their normal
    (BP, [(0, 185, {"diastolic": 100})], [("vitals_blood_pressure", "open")], None),
    (BP, [(0, 150, {"diastolic": 125})], [("vitals_blood_pressure", "open")], None),
    (BP, [(0, 85, {"diastolic": 60})], [("vitals_blood_pressure_low", "open")], None),
    (BP, [(0, 130, {"diastolic": 80})], [], None),
    (TEMP, [(0, 38.2)], [("vitals_temperature", "open")], None),
    (TEMP, [(0, 37.5)], [], None),
    (WT, [(0, 80.0), (1440, 81.0), (2880, 82.5)], [("vitals_weight", "open")], None),
    (WT, [(0, 80.0), (5760, 82.5)], [], None),  # 4 days apart: outside the 3-day window
])
def test_vitals(kind, items, expected, targets):
    assert feed(kind, items, targets) == expected
