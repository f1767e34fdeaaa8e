"""Features: the live window vector equals the training vector, no future leakage, gaps give NaN."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models.features import FEATURES, WINDOW, context_from_frame, feature_frame, live_vector
from models.simulate import SimJob, simulate_patient

SECRET = b"test-secret-0123456789"


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    return simulate_patient(SimJob("adolescent#003", 2, 11, SECRET))


@pytest.fixture(scope="module")
def frame(readings: pd.DataFrame) -> pd.DataFrame:
    return feature_frame(readings)


def window_vector(readings: pd.DataFrame, at: datetime) -> np.ndarray:
    window = readings[(readings.measured_at > at - WINDOW) & (readings.measured_at <= at)]
    cgm = window[window.kind == "cgm"]
    result = live_vector([t.to_pydatetime() for t in cgm.measured_at], cgm.value.tolist(), at,
                         context_from_frame(window))
    assert result is not None
    return result[0]


def test_live_window_vector_equals_training_vector(readings: pd.DataFrame, frame: pd.DataFrame) -> None:
    rows = frame.iloc[::13]
    assert len(rows) > 40
    for row in rows.itertuples():
        live = window_vector(readings, row.measured_at.to_pydatetime())
        # equal up to summation order over context events (pairwise sums of different lengths)
        np.testing.assert_allclose(live, frame.loc[row.Index, list(FEATURES)].to_numpy(dtype=float),
                                   rtol=0, atol=1e-9, equal_nan=True)


def test_context_features_are_present_after_meals(frame: pd.DataFrame) -> None:
    assert (frame.cob > 0).mean() > 0.2
    assert (frame.iob > 0).mean() > 0.2
    assert frame.min_since_rise.min() == 0.0 and frame.min_since_rise.max() == 360.0


def test_no_future_leakage(readings: pd.DataFrame, frame: pd.DataFrame) -> None:
    cut = readings.measured_at.iloc[len(readings) // 2]
    past = readings[readings.measured_at <= cut]
    # the future changes completely: features up to the cut must not move
    future = readings[readings.measured_at > cut].assign(value=lambda d: d.value * 0 + 55.0)
    altered = feature_frame(pd.concat([past, future]))
    before = frame[frame.measured_at <= cut][list(FEATURES)].to_numpy()
    np.testing.assert_array_equal(altered[altered.measured_at <= cut][list(FEATURES)].to_numpy(), before)


def test_targets_are_future_changes(frame: pd.DataFrame) -> None:
    i = 100
    assert frame.y30.iloc[i] == pytest.approx(frame.g.iloc[i + 6] - frame.g.iloc[i])
    assert frame.y60.iloc[i] == pytest.approx(frame.g.iloc[i + 12] - frame.g.iloc[i])
    assert frame.y60.iloc[-12:].isna().all()


def test_gap_gives_missing_lags_not_stale_values() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    times = [t0 + timedelta(minutes=m) for m in (0, 5, 10, 40, 45)]  # 30-minute gap
    result = live_vector(times, [100, 105, 110, 150, 155], t0 + timedelta(minutes=45))
    assert result is not None
    vec = dict(zip(FEATURES, result[0], strict=True))
    assert vec["dg_5"] == 5.0
    assert np.isnan(vec["dg_10"]) and np.isnan(vec["dg_20"])
    # lag 30 looks at 15 min: the newest reading at or before is at 10 min, 5 > 4 minutes old -> missing
    assert np.isnan(vec["dg_15"]) and np.isnan(vec["dg_30"])
    assert vec["dg_45"] == 55.0
    assert vec["win_count"] == 5.0  # grid 45, 40, 10, 5, 0 minutes


def test_no_reading_no_vector() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert live_vector([t0], [100.0], t0 - timedelta(minutes=1)) is None
