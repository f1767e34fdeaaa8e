"""Per-patient vitals baselines: median/MAD bands, robust to outliers, refusing thin history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.vitals import fit_baseline, resting

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spread_over_days(values: list[float], days: float = 4) -> list[datetime]:
    step = timedelta(days=days) / len(values)
    return [T0 + i * step for i in range(len(values))]


def test_median_and_mad_band_hand_computed() -> None:
    values = [60.0, 62.0, 58.0, 61.0, 59.0] * 5  # median 60, |dev| = 0,2,2,1,1 -> MAD 1 -> spread 1.48
    base = fit_baseline("heart_rate", spread_over_days(values), values)
    assert base is not None
    assert base.median == 60.0
    assert base.spread == pytest.approx(3.0)  # 1.4826 is below the 3 bpm floor
    assert (base.low, base.high) == pytest.approx((51.0, 69.0))
    assert base.outside(75.0) and not base.outside(65.0)
    assert base.z(66.0) == pytest.approx(2.0)


def test_outliers_do_not_move_the_baseline() -> None:
    values = [120.0, 124.0, 118.0, 122.0, 116.0] * 6
    noisy = [*values, 200.0, 210.0, 205.0]  # three crisis readings
    base = fit_baseline("systolic", spread_over_days(noisy), noisy)
    assert base is not None
    assert base.median == 120.0
    assert base.spread == 5.0  # MAD 2 -> 2.97 mmHg, below the 5 mmHg floor
    assert base.outside(180.0)


def test_implausible_values_are_ignored() -> None:
    values = [97.0] * 20 + [0.0, 127.0]
    base = fit_baseline("spo2", spread_over_days(values), values)
    assert base is not None and base.n == 20 and base.median == 97.0


@pytest.mark.parametrize(("n", "days"), [(10, 5), (30, 1)])
def test_too_little_history_gives_no_baseline(n: int, days: float) -> None:
    values = [70.0] * n
    assert fit_baseline("heart_rate", spread_over_days(values, days), values) is None


def test_unknown_signal_refused() -> None:
    with pytest.raises(ValueError, match="no baseline"):
        fit_baseline("glucose", [T0], [1.0])


def test_resting_keeps_quiet_hours() -> None:
    times = [T0 + timedelta(hours=h) for h in (1, 5, 6, 12)]
    assert resting(times, [50, 52, 80, 90]) == [50, 52]
