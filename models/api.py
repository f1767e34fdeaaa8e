"""The forecasting interface that scoring and the worker depend on: Forecast, Forecaster, prob_below."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

# z of the 10th/90th percentile of a standard normal: p90 - p50 = Z90 * sigma.
Z90: Final = 1.2815515655446004


class ContextKind(StrEnum):
    """Context events are recorded data and model features only, never dosing advice."""

    CARBS = "carbs"
    INSULIN = "insulin"


@dataclass(frozen=True, slots=True)
class ContextEvent:
    """A meal (grams of carbohydrate) or insulin the patient took (units, with type), at event time (UTC)."""

    at: datetime
    kind: ContextKind
    amount: float
    insulin_type: str | None = None  # rapid, long or mixed; None for carbs


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    """Glucose forecast in mg/dL `minutes` after the forecast time: median and 10th/90th percentiles."""

    minutes: int
    p10: float
    p50: float
    p90: float

    def __post_init__(self) -> None:
        if self.minutes <= 0:
            raise ValueError(f"forecast horizon must be positive, got {self.minutes}")
        if not (self.p10 <= self.p50 <= self.p90):
            raise ValueError(
                f"quantiles out of order at {self.minutes} min: {self.p10}, {self.p50}, {self.p90}")


@dataclass(frozen=True, slots=True)
class Forecast:
    """A glucose forecast made at `made_at` from readings up to then; names the model that made it."""

    made_at: datetime
    points: tuple[ForecastPoint, ...]
    model_name: str
    model_version: str

    def at(self, minutes: int) -> ForecastPoint | None:
        """The point for exactly this horizon, if the model forecasts it."""
        for point in self.points:
            if point.minutes == minutes:
                return point
        return None


@runtime_checkable
class Forecaster(Protocol):
    """Anything that turns a patient's recent glucose (and context events) into a Forecast."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    def forecast(
        self,
        times: Sequence[datetime],
        values_mgdl: Sequence[float],
        now: datetime,
        context: Sequence[ContextEvent] = (),
    ) -> Forecast | None:
        """Forecast from readings ordered by time (UTC); None when it cannot (too few or too old readings)."""
        ...


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def prob_point_below(point: ForecastPoint, threshold: float) -> float:
    """P(glucose < threshold) at one horizon, from a split normal through p10, p50 and p90."""
    if threshold <= point.p50:
        spread = (point.p50 - point.p10) / Z90
        if spread <= 0.0:
            return 1.0 if threshold > point.p50 else 0.0
    else:
        spread = (point.p90 - point.p50) / Z90
        if spread <= 0.0:
            return 1.0
    return _normal_cdf((threshold - point.p50) / spread)


def prob_below(forecast: Forecast, threshold: float, within_minutes: int) -> float:
    """Probability that glucose is below `threshold` at some forecast horizon up to `within_minutes`.

    The highest per-horizon probability: a lower bound on the chance of crossing, without assuming
    how errors at different horizons correlate. 0.0 when the forecast has no horizon in range.
    """
    probs = [prob_point_below(p, threshold) for p in forecast.points if p.minutes <= within_minutes]
    return max(probs, default=0.0)
