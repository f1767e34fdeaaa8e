"""The gradient-boosted forecaster: personalization guard, forecasts usable by alert logic, silence rules."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models.api import Forecaster, prob_below
from models.features import FEATURES
from models.forecast import ForecastModel, GBForecaster, fit_correction


def one_patient(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame.patient_key == frame.patient_key.iloc[0]]


def test_systematic_residual_is_learned(small_model: ForecastModel, small_frame: pd.DataFrame) -> None:
    rows = one_patient(small_frame).copy()
    base = fit_correction(small_model, rows)
    rows["y30"] = rows["y30"] + 15.0  # this patient always ends 15 mg/dL higher than the model thinks
    shifted = fit_correction(small_model, rows)
    assert base is not None and shifted is not None
    assert 12.0 < shifted.intercept[0] - base.intercept[0] < 18.0


def test_pure_noise_residual_is_refused_by_the_guard(small_model: ForecastModel, small_frame: pd.DataFrame) -> None:
    rows = one_patient(small_frame).copy()
    x = rows[list(FEATURES)].to_numpy()
    rng = np.random.default_rng(0)
    for h in (30, 60):
        rows[f"y{h}"] = small_model.predict_delta(x, h, "mean") + rng.normal(0, 20, len(rows))
    corr = fit_correction(small_model, rows)
    assert corr is not None
    assert corr.intercept == (0.0, 0.0) and all(w == 0.0 for ws in corr.weights for w in ws)


def test_less_than_three_days_gives_no_correction(small_model: ForecastModel, small_frame: pd.DataFrame) -> None:
    rows = one_patient(small_frame)
    assert fit_correction(small_model, rows[rows.measured_at < rows.measured_at.min() + pd.Timedelta(days=2)]) is None


def cgm_of(cohort: pd.DataFrame, n: int) -> tuple[list[datetime], list[float]]:
    key = cohort.patient_key.iloc[0]
    cgm = cohort[(cohort.patient_key == key) & (cohort.kind == "cgm")].iloc[:n]
    return [t.to_pydatetime() for t in cgm.measured_at], cgm.value.tolist()


def test_forecast_points_quantiles_and_prob_below(small_model: ForecastModel, small_cohort: pd.DataFrame) -> None:
    fc_model = GBForecaster(small_model, str(small_cohort.patient_key.iloc[0]))
    assert isinstance(fc_model, Forecaster)
    times, values = cgm_of(small_cohort, 400)
    fc = fc_model.forecast(times, values, times[-1])
    assert fc is not None
    assert [p.minutes for p in fc.points] == list(range(5, 65, 5))
    for p in fc.points:
        assert 39.0 <= p.p10 <= p.p50 <= p.p90 <= 400.0
    assert 0.0 <= prob_below(fc, 70, 30) <= 1.0
    # two steady hours at 150, then a sustained fall of 1.4 mg/dL/min down to 94; the tiny test model
    # (2 patients, 4 days) expects a partial rebound, so only the direction is checked here - accuracy is
    # what `vigil models evaluate` measures on held-out patients
    t0 = times[0]
    steady = [150.0] * 24
    falling = [150.0 - 7.0 * (i + 1) for i in range(8)]
    grid = [t0 + timedelta(minutes=5 * i) for i in range(32)]
    fc2 = fc_model.forecast(grid, steady + falling, grid[-1])
    steady_fc = fc_model.forecast(grid[:24], steady, grid[23])
    assert fc2 is not None and steady_fc is not None
    assert fc2.points[0].p50 < steady_fc.points[0].p50 - 20
    assert prob_below(fc2, 100, 30) > prob_below(steady_fc, 100, 30)


def test_silent_when_stale_or_without_trend(small_model: ForecastModel, small_cohort: pd.DataFrame) -> None:
    f = GBForecaster(small_model)
    times, values = cgm_of(small_cohort, 50)
    assert f.forecast(times, values, times[-1] + timedelta(minutes=10, seconds=1)) is None
    assert f.forecast(times[:1], values[:1], times[0]) is None
    assert f.forecast(times, values, times[-1]) is not None
    assert f.version == "test-model-1"


def test_interpolated_points_between_model_knots() -> None:
    from models.forecast import interpolate

    points = interpolate([(0, 100.0, 100.0, 100.0), (30, 70.0, 80.0, 95.0), (60, 50.0, 70.0, 100.0)])
    by = {p.minutes: p for p in points}
    assert (by[30].p10, by[30].p50, by[30].p90) == (70.0, 80.0, 95.0)
    assert (by[15].p10, by[15].p50, by[15].p90) == (85.0, 90.0, 97.5)
    assert (by[45].p10, by[45].p50, by[45].p90) == (60.0, 75.0, 97.5)
    assert len(points) == 12


def test_live_forecast_one_pass_equals_per_model_prediction(small_model: ForecastModel,
                                                             small_cohort: pd.DataFrame) -> None:
    from models.features import live_vector

    key = str(small_cohort.patient_key.iloc[0])
    times, values = cgm_of(small_cohort, 300)
    fc = GBForecaster(small_model, key).forecast(times, values, times[-1])
    built = live_vector(times, values, times[-1])
    assert fc is not None and built is not None
    model = small_model.cgm_only
    assert model is not None
    for h in (30, 60):
        direct = model.predict(built[0], h, key)
        point = fc.at(h)
        assert point is not None
        expected = [float(direct[q][0]) for q in ("p10", "mean", "p90")]
        assert [point.p10, point.p50, point.p90] == pytest.approx(expected, abs=1e-9)  # summation order
