"""Shared small cohort and model for models tests: 2 patients x 4 days, trained in a few seconds."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from models.features import feature_frame
from models.forecast import ForecastModel, fit_correction, neutralize, personal_scaling, train_population
from models.simulate import SimJob, simulate_cohort

SECRET = b"test-secret-0123456789"


@pytest.fixture(scope="session")
def small_cohort() -> pd.DataFrame:
    jobs = [SimJob(name, 4, 5, SECRET) for name in ("adult#002", "child#004")]
    return simulate_cohort(jobs, processes=1, progress=False)


@pytest.fixture(scope="session")
def small_frame(small_cohort: pd.DataFrame) -> pd.DataFrame:
    return feature_frame(small_cohort)


def fitted(frame: pd.DataFrame, name: str) -> ForecastModel:
    mean, scale = personal_scaling(frame)
    base = ForecastModel(name, train_population(frame, seed=1), mean, scale)
    corrections = {}
    for key, rows in frame.groupby("patient_key"):
        corr = fit_correction(base, rows)
        assert corr is not None
        corrections[str(key)] = corr
    return replace(base, corrections=corrections)


@pytest.fixture(scope="session")
def small_model(small_frame: pd.DataFrame) -> ForecastModel:
    """Context model with its CGM-only variant, like `vigil models train` makes."""
    return replace(fitted(small_frame, "test-model-1"), cgm_only=fitted(neutralize(small_frame), "test-model-1/cgm"))
