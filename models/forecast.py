"""The vigil forecaster: population gradient boosting on glucose change, plus per-patient residual correction.

Population: for each horizon (30, 60 min) one squared-error model (the point forecast) and two quantile
models (10th, 90th percentile), all predicting the change from the current reading (delta, not level).
Personalization: once a patient has >= 3 days, a small ridge regression of the population model's
residual on a few interpretable features (level, trend, carbs and insulin still to act). A patient's
insulin sensitivity and carb ratio are what the population cannot know; those residual weights learn
them from few days without refitting trees, and shrink to zero (pure population) when data are thin.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from models.api import ContextEvent, Forecast, ForecastPoint
from models.features import FEATURES, HORIZONS, live_vector
from models.trees import StackedTrees, TreeEnsemble

QUANTILES: Final = ("p10", "mean", "p90")
PERSONAL_FEATURES: Final = ("g", "dg_15", "carb_next30", "carb_next60", "ins_next30", "ins_next60", "iob")
PERSONAL_MIN_DAYS: Final = 3.0
PERSONAL_ALPHA: Final = 30.0  # ridge strength per row-count-normalized design; shrinks toward population
GUARD_GAIN: Final = 0.03  # a correction must cut held-back squared error by 3 % to be used
MAX_AGE: Final = timedelta(minutes=10)
STEP: Final = 5  # minutes between forecast points
BG_MIN: Final = 39.0
BG_MAX: Final = 400.0

# Features that come from carbs and insulin events, and their value when there are none.
CONTEXT_NEUTRAL: Final = {
    "cob": 0.0, "carb_rate": 0.0, "carb_next30": 0.0, "carb_next60": 0.0, "min_since_carbs": 360.0,
    "iob": 0.0, "ins_rate": 0.0, "ins_next30": 0.0, "ins_next60": 0.0, "min_since_insulin": 360.0,
}
CGM_ONLY_SUFFIX: Final = "/cgm"

HGB_PARAMS: Final = {
    "max_iter": 200, "learning_rate": 0.08, "max_leaf_nodes": 31, "min_samples_leaf": 40,
    "l2_regularization": 1.0, "early_stopping": False,
}


@dataclass(frozen=True, slots=True)
class Correction:
    """Per-patient residual correction: delta += intercept + sum(weight * standardized feature)."""

    intercept: tuple[float, ...]  # one per horizon
    weights: tuple[tuple[float, ...], ...]  # per horizon, per PERSONAL_FEATURES
    days: float

    def apply(self, h_index: int, x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
        z = (x - mean) / scale
        z = np.nan_to_num(z, nan=0.0)
        shift: np.ndarray = self.intercept[h_index] + z @ np.asarray(self.weights[h_index])
        return shift


@dataclass(frozen=True, slots=True)
class ForecastModel:
    """Everything one version needs to forecast: trees per (horizon, quantile), scaling, corrections."""

    version: str
    trees: Mapping[tuple[int, str], TreeEnsemble]
    personal_mean: np.ndarray
    personal_scale: np.ndarray
    corrections: Mapping[str, Correction] = field(default_factory=dict)
    # Trained with the context features neutralized: used when the caller has no carbs/insulin events.
    cgm_only: ForecastModel | None = None
    stacked: StackedTrees | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stacked", StackedTrees.of([self.trees[k] for k in self.keys()]))

    @staticmethod
    def keys() -> list[tuple[int, str]]:
        return [(h, q) for h in HORIZONS for q in QUANTILES]

    def predict_delta(self, x: np.ndarray, horizon: int, quantile: str) -> np.ndarray:
        return self.trees[(horizon, quantile)].predict(x)

    def personal_columns(self, x: np.ndarray) -> np.ndarray:
        idx = [FEATURES.index(name) for name in PERSONAL_FEATURES]
        return np.atleast_2d(x)[:, idx]

    def predict(self, x: np.ndarray, horizon: int, patient_key: str | None = None,
                deltas: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Level forecasts (mg/dL) for rows of x: p10, mean, p90, with the patient's correction if any.

        `deltas` (per quantile) skips the tree traversal when the caller already has them (live path).
        """
        x = np.atleast_2d(x)
        if deltas is None:
            deltas = {q: self.predict_delta(x, horizon, q) for q in QUANTILES}
        g = x[:, FEATURES.index("g")]
        shift = np.zeros(len(x))
        corr = self.corrections.get(patient_key) if patient_key else None
        if corr is not None:
            shift = corr.apply(HORIZONS.index(horizon), self.personal_columns(x), self.personal_mean,
                               self.personal_scale)
        out = {q: np.clip(g + deltas[q] + shift, BG_MIN, BG_MAX) for q in QUANTILES}
        out["p10"] = np.minimum(out["p10"], out["mean"])
        out["p90"] = np.maximum(out["p90"], out["mean"])
        return out


def train_population(
    frame: pd.DataFrame, seed: int = 7, threads: int | None = None
) -> dict[tuple[int, str], TreeEnsemble]:
    """Fits the 2 x 3 population models on a feature frame (rows with a target only).

    OpenMP threads default to VIGIL_TRAIN_THREADS or 1: on a shared, busy machine spinning OpenMP
    workers made training several times slower than one thread.
    """
    threads = threads or int(os.environ.get("VIGIL_TRAIN_THREADS", "1"))
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    trees: dict[tuple[int, str], TreeEnsemble] = {}
    with threadpool_limits(limits=threads):
        _fit_all(frame, seed, trees, HistGradientBoostingRegressor)
    return trees


def _fit_all(frame: pd.DataFrame, seed: int, trees: dict[tuple[int, str], TreeEnsemble], estimator: Any) -> None:
    for h in HORIZONS:
        rows = frame[frame[f"y{h}"].notna()]
        x, y = rows[list(FEATURES)].to_numpy(), rows[f"y{h}"].to_numpy()
        for q in QUANTILES:
            loss = {"loss": "squared_error"} if q == "mean" else {"loss": "quantile",
                                                                  "quantile": 0.1 if q == "p10" else 0.9}
            model = estimator(random_state=seed, **loss, **HGB_PARAMS)
            model.fit(x, y)
            trees[(h, q)] = TreeEnsemble.from_sklearn(model)


def neutralize(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as live_vector would compute it without any context events (CGM-only patients)."""
    return frame.assign(**dict(CONTEXT_NEUTRAL))


def personal_scaling(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    cols = frame[list(PERSONAL_FEATURES)].to_numpy(dtype=float)
    mean = np.nanmean(cols, axis=0)
    scale = np.nanstd(cols, axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def _ridge(z: np.ndarray, resid: np.ndarray) -> np.ndarray:
    z1 = np.column_stack([np.ones(len(z)), z])
    penalty = PERSONAL_ALPHA * len(z) / 100.0 * np.eye(z1.shape[1])
    penalty[0, 0] = 1e-6 * len(z)  # the intercept is barely shrunk
    coef: np.ndarray = np.linalg.solve(z1.T @ z1 + penalty, z1.T @ resid)
    return coef


def fit_correction(model: ForecastModel, patient_rows: pd.DataFrame) -> Correction | None:
    """Ridge on the population residuals of one patient's history; None below PERSONAL_MIN_DAYS.

    Guarded: per horizon the correction is first fitted on the earlier two thirds of the history and
    kept only if it lowers the squared error on the last third by at least GUARD_GAIN; otherwise that
    horizon stays on the population model (zero correction). The kept one is refitted on all rows.
    """
    span = patient_rows.measured_at.max() - patient_rows.measured_at.min()
    days = span / pd.Timedelta(days=1)
    if days < PERSONAL_MIN_DAYS - 0.05:
        return None
    intercepts: list[float] = []
    weights: list[tuple[float, ...]] = []
    for h in HORIZONS:
        rows = patient_rows[patient_rows[f"y{h}"].notna()].sort_values("measured_at")
        x = rows[list(FEATURES)].to_numpy(dtype=float)
        resid = rows[f"y{h}"].to_numpy() - model.predict_delta(x, h, "mean")
        z = np.nan_to_num((model.personal_columns(x) - model.personal_mean) / model.personal_scale, nan=0.0)
        cut = (2 * len(z)) // 3
        trial = _ridge(z[:cut], resid[:cut])
        after = resid[cut:] - (trial[0] + z[cut:] @ trial[1:])
        if np.mean(after**2) <= (1.0 - GUARD_GAIN) * np.mean(resid[cut:] ** 2):
            coef = _ridge(z, resid)
        else:
            coef = np.zeros(z.shape[1] + 1)
        intercepts.append(float(coef[0]))
        weights.append(tuple(float(c) for c in coef[1:]))
    return Correction(intercept=tuple(intercepts), weights=tuple(weights), days=float(days))


@dataclass(frozen=True, slots=True)
class GBForecaster:
    """The Forecaster for one patient: population trees plus that patient's correction, if it has one.

    Called without context events it uses the model's CGM-only variant when there is one: a model that
    learned from carbs and insulin does worse than AR2 when they are silently missing (measured).
    """

    model: ForecastModel
    patient_key: str | None = None
    name: str = "vigil-gb"

    @property
    def version(self) -> str:
        return self._version(self.model)

    def _version(self, model: ForecastModel) -> str:
        personal = self.patient_key is not None and self.patient_key in model.corrections
        return f"{model.version}+personal" if personal else model.version

    def forecast(
        self,
        times: Sequence[datetime],
        values_mgdl: Sequence[float],
        now: datetime,
        context: Sequence[ContextEvent] = (),
    ) -> Forecast | None:
        built = live_vector(times, values_mgdl, now, context)
        if built is None:
            return None
        vec, at, _ = built
        model = self.model.cgm_only if not context and self.model.cgm_only is not None else self.model
        if now - at > MAX_AGE:
            return None
        if np.isnan(vec[FEATURES.index("dg_5")]) and np.isnan(vec[FEATURES.index("dg_10")]):
            return None  # no trend: a single isolated reading
        g = float(vec[FEATURES.index("g")])
        knots = [(0, g, g, g)]
        assert model.stacked is not None
        all_deltas = dict(zip(model.keys(), model.stacked.predict(vec)[0], strict=True))  # one pass, 6 models
        for h in HORIZONS:
            deltas = {q: np.array([all_deltas[(h, q)]]) for q in QUANTILES}
            pred = model.predict(vec, h, self.patient_key, deltas)
            knots.append((h, float(pred["p10"][0]), float(pred["mean"][0]), float(pred["p90"][0])))
        return Forecast(made_at=now, points=interpolate(knots), model_name=self.name,
                        model_version=self._version(model))


def interpolate(knots: Sequence[tuple[int, float, float, float]]) -> tuple[ForecastPoint, ...]:
    """5-minute points up to the last horizon: model outputs at the knots, linear in between.

    The models predict 30 and 60 minutes; alert rules that look 20 minutes ahead (urgent low soon) get
    points interpolated from the current reading (zero spread) to the 30-minute quantiles.
    """
    points = []
    for (m0, a10, a50, a90), (m1, b10, b50, b90) in itertools.pairwise(knots):
        for m in range(m0 + STEP, m1 + 1, STEP):
            w = (m - m0) / (m1 - m0)
            p50 = a50 + w * (b50 - a50)
            points.append(ForecastPoint(m, min(p50, a10 + w * (b10 - a10)), p50, max(p50, a90 + w * (b90 - a90))))
    return tuple(points)
