"""Tests for the forecast records and prob_below."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.api import Forecast, ForecastPoint, prob_below, prob_point_below

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fc(*points: ForecastPoint) -> Forecast:
    return Forecast(T0, points, "m", "v1")


def test_point_validates_order_and_horizon() -> None:
    with pytest.raises(ValueError, match="out of order"):
        ForecastPoint(30, 100, 90, 110)
    with pytest.raises(ValueError, match="positive"):
        ForecastPoint(0, 90, 100, 110)


@pytest.mark.parametrize(
    ("point", "threshold", "expected"),
    [
        (ForecastPoint(30, 80, 100, 140), 100, 0.5),  # at the median
        (ForecastPoint(30, 80, 100, 140), 80, 0.1),  # at p10
        (ForecastPoint(30, 80, 100, 140), 140, 0.9),  # at p90 (upper side has its own spread)
        (ForecastPoint(30, 100, 100, 100), 99, 0.0),  # zero-width interval
        (ForecastPoint(30, 100, 100, 100), 101, 1.0),
        # z = (70-60)/((80-60)/1.2816) = 0.6408 -> Phi = 0.7392
        (ForecastPoint(30, 60, 60, 80), 70, 0.7392),
    ],
)
def test_prob_point_below(point: ForecastPoint, threshold: float, expected: float) -> None:
    assert prob_point_below(point, threshold) == pytest.approx(expected, abs=1e-3)


def test_prob_below_takes_the_worst_horizon_within_the_window() -> None:
    forecast = fc(ForecastPoint(15, 80, 100, 120), ForecastPoint(30, 60, 75, 95),
                  ForecastPoint(60, 40, 50, 60))
    assert prob_below(forecast, 70, 15) == pytest.approx(0.0273, abs=1e-3)  # z = -30/(20/1.2816) = -1.922
    p30 = prob_below(forecast, 70, 30)
    assert 0.2 < p30 < 0.4  # 30-min point: z = -5/(15/1.2816) = -0.427 -> 0.335
    assert p30 == pytest.approx(0.3346, abs=1e-3)
    assert prob_below(forecast, 70, 60) == pytest.approx(1.0, abs=0.02)
    assert prob_below(forecast, 70, 5) == 0.0  # no horizon in range


def test_forecast_at_finds_exact_horizon() -> None:
    forecast = fc(ForecastPoint(30, 1, 2, 3))
    assert forecast.at(30) == ForecastPoint(30, 1, 2, 3)
    assert forecast.at(60) is None
