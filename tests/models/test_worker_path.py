"""The worker's scoring path with a vigil forecaster from the registry, and with the AR2 fallback.

The forecaster here is a real GBForecaster over hand-made trees (falling >= 15 mg/dL in 15 minutes means
-40 mg/dL in 30 minutes), saved to and loaded from the registry, so the test checks the wiring
(features -> trees -> Forecast -> predicted-low alert naming the model version), not learned accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.features import FEATURES, HORIZONS
from models.forecast import PERSONAL_FEATURES, QUANTILES, ForecastModel
from models.registry import promote, save, worker_forecasters
from models.trees import TreeEnsemble
from monitor.testing import MonitorHarness, cgm_series


def stump(feature: str, threshold: float, left: float, right: float) -> TreeEnsemble:
    arrays = {
        "feature": np.array([[FEATURES.index(feature), 0, 0]], np.int32),
        "threshold": np.array([[threshold, 0.0, 0.0]]),
        "missing_left": np.array([[False, False, False]]),
        "left": np.array([[1, 0, 0]], np.int32),
        "right": np.array([[2, 0, 0]], np.int32),
        "is_leaf": np.array([[False, True, True]]),
        "value": np.array([[0.0, left, right]]),
    }
    return TreeEnsemble.from_arrays(0.0, 1, arrays)


def handmade_store(path: Path) -> Path:
    """Hand-made stump trees (a fall of 15 mg/dL in 15 min forecasts a steep drop), saved and promoted."""
    shift = {"p10": -10.0, "mean": 0.0, "p90": 10.0}
    trees = {(h, q): stump("dg_15", -15.0, -40.0 * h / 30 + shift[q], shift[q]) for h in HORIZONS for q in QUANTILES}
    n = len(PERSONAL_FEATURES)
    save(ForecastModel("handmade-1", trees, np.zeros(n), np.ones(n)), path, data_hash="0" * 64)
    promote(path, "handmade-1")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return handmade_store(tmp_path)


FALL = [150.0] * 12 + [150.0 - 10.0 * i for i in range(1, 9)]  # ends at 70, -2 mg/dL/min


def low_alerts(harness: MonitorHarness) -> list[tuple[str, str]]:
    return [(a.kind, a.explanation.model_version) for a in harness.alerts
            if a.kind in ("predicted_low", "urgent_low_soon")]


def feed(harness: MonitorHarness) -> None:
    for r in cgm_series(FALL):
        harness.clock.now = r.measured_at
        harness.feed(r)


def test_promoted_model_drives_predicted_low(store: Path) -> None:
    harness = MonitorHarness(forecaster=worker_forecasters(store)("p1"))
    feed(harness)
    found = low_alerts(harness)
    assert found, "no predicted-low alert from the promoted model"
    assert {version for _, version in found} == {"handmade-1"}


def test_ar2_fallback_without_a_promoted_model(tmp_path: Path) -> None:
    harness = MonitorHarness(forecaster=worker_forecasters(tmp_path / "empty")("p1"))
    feed(harness)
    found = low_alerts(harness)
    assert found and {version for _, version in found} == {"nightscout-ar2-1"}
