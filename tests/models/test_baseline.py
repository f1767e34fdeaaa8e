"""Table tests for Nightscout AR2 and the last-value baseline, with hand-computed numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.api import Forecast, Forecaster, ForecastPoint
from models.baseline import AR2, AR2Level, LastValue, ar2_alarm, ar2_inputs, ar2_medians

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def series(*pairs: tuple[float, float]) -> tuple[list[datetime], list[float]]:
    """(minutes after T0, mg/dL) pairs -> times, values."""
    return [T0 + timedelta(minutes=m) for m, _ in pairs], [v for _, v in pairs]


def flat(bg: float) -> Forecast:
    return Forecast(T0, tuple(ForecastPoint(m, bg, bg, bg) for m in range(5, 65, 5)), "t", "t")


def test_both_baselines_satisfy_the_protocol() -> None:
    assert isinstance(AR2(), Forecaster)
    assert isinstance(LastValue(), Forecaster)


# x0 = ln(100/140) = -0.336472, x1 = ln(110/140) = -0.241162
# step 1: -0.723*x0 + 1.716*x1 = 0.243269 - 0.413834 = -0.170565 -> 140*e^-0.170565 = 118.05 -> 118
# step 6 (30 min): x = -0.014985 -> 137.92 -> 138; step 12 (60 min): x = 0.019225 -> 142.72 -> 143
@pytest.mark.parametrize(("minutes", "expected"),
                         [(5, 118.0), (10, 124.0), (15, 129.0), (30, 138.0), (60, 143.0)])
def test_ar2_points_rising_from_100_to_110(minutes: int, expected: float) -> None:
    times, values = series((0, 100), (5, 110))
    fc = AR2().forecast(times, values, now=T0 + timedelta(minutes=6))
    assert fc is not None
    point = fc.at(minutes)
    assert point is not None and point.p50 == expected
    assert fc.model_name == "ar2" and fc.model_version == "nightscout-ar2-1"


def test_ar2_at_reference_stays_and_cone_is_the_10_90_band() -> None:
    times, values = series((0, 140), (5, 140))
    fc = AR2().forecast(times, values, now=T0 + timedelta(minutes=5))
    assert fc is not None
    first = fc.points[0]
    # 140*exp(-+1.2816*0.020) = 136.46 / 143.63
    assert (first.p10, first.p50, first.p90) == (136.0, 140.0, 144.0)
    assert [p.minutes for p in fc.points] == list(range(5, 65, 5))


@pytest.mark.parametrize(
    ("pairs", "now_min", "expected"),
    [
        (((0, 100), (5, 110)), 5, (100.0, 110.0)),
        (((0, 100), (4, 110)), 5, (100.0, 110.0)),  # 4 minutes counts as 5
        (((0, 100), (9, 110)), 10, (100.0, 110.0)),  # up to 9.5 minutes counts as 5
        (((0, 100), (10, 110)), 10, (105.0, 110.0)),  # 10 minutes: interpolated to 5 minutes back
        (((0, 100), (4, 104), (5, 110)), 5, (100.0, 110.0)),  # 1 minute before is a duplicate: skipped
        (((0, 100), (2, 104), (5, 110)), 5, (104.0, 110.0)),  # newest reading at least 2.5 min before
        (((0, 100), (1, 104)), 2, None),  # only a near-duplicate before the latest
        (((0, 100), (16, 110)), 16, None),  # previous reading too far back
        (((0, 100), (5, 110)), 16, None),  # last reading 11 minutes old: silent
        (((0, 20), (5, 500)), 5, (36.0, 400.0)),  # clamped to 36-400
    ],
)
def test_ar2_inputs(pairs: tuple[tuple[float, float], ...], now_min: float,
                    expected: tuple[float, float] | None) -> None:
    times, values = series(*pairs)
    assert ar2_inputs(times, values, T0 + timedelta(minutes=now_min)) == expected


def test_ar2_ignores_readings_after_now() -> None:
    times, values = series((0, 100), (5, 110), (10, 300))
    fc = AR2().forecast(times, values, now=T0 + timedelta(minutes=6))
    assert fc is not None and fc.points[0].p50 == 118.0


def test_ar2_is_silent_with_too_few_or_too_old_readings() -> None:
    assert AR2().forecast([], [], now=T0) is None
    assert AR2().forecast(*series((0, 100)), now=T0) is None
    assert AR2().forecast(*series((0, 100), (5, 110)), now=T0 + timedelta(minutes=15, seconds=1)) is None


def test_ar2_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 times but 1 values"):
        AR2().forecast([T0, T0 + timedelta(minutes=5)], [100.0], now=T0 + timedelta(minutes=5))


# avgLoss = 6 * log10(bg/120)^2 / 5 for a flat forecast
@pytest.mark.parametrize(
    ("bg", "loss", "level", "event"),
    [
        (120.0, 0.0, AR2Level.NONE, ""),
        (180.0, 1.2 * math.log10(1.5) ** 2, AR2Level.NONE, ""),  # 0.0372
        (200.0, 0.059062, AR2Level.WARN, "high"),  # log10(5/3)=0.221849 -> 0.049217*1.2
        (250.0, 0.121930, AR2Level.URGENT, "high"),  # log10(2.0833)=0.318759 -> 0.101607*1.2
        (70.0, 0.065754, AR2Level.WARN, "low"),  # log10(0.58333)=-0.234083 -> 0.054795*1.2
        (60.0, 0.108743, AR2Level.URGENT, "low"),  # log10(0.5)=-0.301030 -> 0.090619*1.2
    ],
)
def test_ar2_alarm_table(bg: float, loss: float, level: AR2Level, event: str) -> None:
    alarm = ar2_alarm(flat(bg))
    assert alarm.avg_loss == pytest.approx(loss, abs=1e-5)
    assert alarm.level is level
    assert alarm.event == event


def test_ar2_alarm_needs_30_minutes_of_points() -> None:
    short = Forecast(T0, (ForecastPoint(5, 60, 60, 60),), "t", "t")
    with pytest.raises(ValueError, match="6 points"):
        ar2_alarm(short)


def test_ar2_alarm_on_a_real_fall() -> None:
    # 90 -> 80: x falls fast enough that the 30-minute forecast is well below 70
    fc = AR2().forecast(*series((0, 90), (5, 80)), now=T0 + timedelta(minutes=5))
    assert fc is not None
    in30 = fc.at(30)
    assert in30 is not None and in30.p50 < 70
    assert ar2_alarm(fc).event == "low"


def test_last_value_repeats_the_newest_reading() -> None:
    fc = LastValue().forecast(*series((0, 100), (5, 87.5)), now=T0 + timedelta(minutes=7))
    assert fc is not None
    assert {(p.p10, p.p50, p.p90) for p in fc.points} == {(87.5, 87.5, 87.5)}
    assert fc.at(30) is not None and fc.at(60) is not None
    assert LastValue().forecast(*series((0, 100)), now=T0 + timedelta(minutes=11)) is None

_gaps = st.lists(st.sampled_from((60, 120, 149, 150, 151, 240, 300, 300, 300, 420, 569, 570, 571, 780, 900, 901)),
                 min_size=0, max_size=11)


@settings(max_examples=300, deadline=None)
@given(_gaps, st.lists(st.floats(20.0, 450.0), min_size=12, max_size=12), st.integers(-120, 700),
       st.sampled_from((0, 1, 500_000, 999_999)))
def test_ar2_medians_equal_the_forecast_medians(gaps: list[int], values: list[float], after_s: int,
                                                now_us: int) -> None:
    times_s = [1_795_000_000]
    for gap in gaps:
        times_s.append(times_s[-1] + gap)
    vals = values[:len(times_s)]
    now_s = times_s[-1] + after_s
    now = datetime.fromtimestamp(now_s, UTC).replace(microsecond=now_us)
    forecast = AR2().forecast([datetime.fromtimestamp(t, UTC) for t in times_s], vals, now)
    expected = None if forecast is None else [p.p50 for p in forecast.points]
    assert ar2_medians(times_s, vals, now_s, now_us) == expected
    assert ar2_medians(times_s, vals, now_s, now_us, steps=6) == (None if expected is None else expected[:6])
