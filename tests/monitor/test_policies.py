from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor import policies
from monitor.policies import ar2_forecast, ar2_loss, side_of
from monitor.records import Reading, ReadingKind, Source, reading_id_for

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PK = "pk_" + "1" * 32


def trace(*values: float, step: float = 5.0, start_minute: float = 0.0) -> list[Reading]:
    out = []
    for i, v in enumerate(values):
        at = T0 + timedelta(minutes=start_minute + i * step)
        out.append(Reading(reading_id=reading_id_for("cgm", "cgm", None, at), patient_key=PK, device_id="cgm",
                           kind=ReadingKind.CGM, value=v, unit="mg/dL", measured_at=at, received_at=at,
                           source=Source.IMPORT))
    return out


def kinds(alerts):
    return [(round((a.at - T0).total_seconds() / 60), a.kind) for a in alerts]


@pytest.mark.parametrize(("kind", "side"), [("urgent_low", "low"), ("predicted_low", "low"), ("ar2_low", "low"),
                                            ("very_high", "high"), ("persistent_high", "high"),
                                            ("rapid_fall", "trend"), ("no_data", "data"),
                                            ("missed_readings", "data")])
def test_side_of(kind, side):
    assert side_of(kind) == side


def test_nightscout_simple_alarms_on_each_level_entry():
    alerts = policies.nightscout_simple(PK, trace(100, 79, 60, 54, 58, 85, 78, 190, 270, 200))
    assert kinds(alerts) == [(5, "low"), (15, "urgent_low"), (30, "low"), (35, "high"), (40, "urgent_high")]


def test_ar2_forecast_matches_the_recursion_and_clamps():
    # a flat 140 stays at 140 (x = 0 is a fixed point)
    assert ar2_forecast(140, 140) == pytest.approx([140.0] * 6)
    # one step by hand: x_prev = ln(100/140), x_curr = ln(90/140)
    import math
    x1 = -0.723 * math.log(100 / 140) + 1.716 * math.log(90 / 140)
    assert ar2_forecast(100, 90)[0] == pytest.approx(140 * math.exp(x1))
    assert ar2_forecast(20, 20) == ar2_forecast(36, 36)


def test_ar2_loss_and_levels():
    assert ar2_loss([120.0] * 6) == 0.0
    falling = policies.nightscout_ar2(PK, trace(120, 100, 80, 70))
    assert falling and all(a.kind == "ar2_low" for a in falling)
    assert policies.nightscout_ar2(PK, trace(120, 120, 121, 119)) == []


def test_ar2_is_silent_without_a_reading_5_minutes_before():
    assert policies.nightscout_ar2(PK, trace(120, 80, 60, step=15)) == []


def test_xdrip_like_low_forecast_fall_and_missed():
    rs = trace(120, 110, 100, 88, 76, 66, 64)
    alerts = policies.xdrip_like(PK, rs)
    assert kinds(alerts) == [(15, "predicted_low"), (25, "low")]
    gap = trace(100, 100) + trace(100, start_minute=45)
    assert kinds(policies.xdrip_like(PK, gap)) == [(35, "missed_readings")]


def test_xdrip_like_fall_at_3_per_minute_over_4_readings():
    alerts = policies.xdrip_like(PK, trace(200, 185, 170, 155, 150))
    assert (15, "rapid_fall") in kinds(alerts)


def test_xdrip_like_persistent_high_after_60_min_then_every_20():
    rs = trace(*([180] * 20))  # 0..95 min above 170
    assert kinds(policies.xdrip_like(PK, rs)) == [(60, "persistent_high"), (80, "persistent_high")]


def test_dexcom_like_urgent_low_repeats_every_5_minutes():
    rs = trace(60, 54, 52, 50, 53, 60, 75, 260)
    assert kinds(policies.dexcom_like(PK, rs)) == [
        (0, "low"), (5, "urgent_low"), (10, "urgent_low"), (15, "urgent_low"), (20, "urgent_low"),
        (35, "high"), (35, "rapid_rise")]


def test_dexcom_like_urgent_low_soon():
    alerts = policies.dexcom_like(PK, trace(100, 90, 80, 72))
    assert kinds(alerts) == [(10, "urgent_low_soon")]


def test_default_policy_runs_the_engine_and_counts_opening_records():
    rs = trace(*([100] * 4 + [50] * 6 + [120] * 6))
    alerts = policies.vigil_default(PK, rs)
    direct = policies.engine_alerts(rs)
    assert alerts, "a 30-minute stay at 50 mg/dL must alert"
    assert {a.alert_id for a in alerts} <= {a.alert_id for a in direct}
    assert all(a.side == "low" for a in alerts if a.kind.endswith("low"))
    assert any(a.kind == "urgent_low" for a in alerts)
