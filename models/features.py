"""Forecasting features from past CGM and context events only; one array core serves training and the worker.

`feature_frame` computes every reading's vector for a whole cohort (training, evaluation);
`live_vector` computes the newest reading's vector from the worker's small window. Both call the same
vectorized `_features` on int64-nanosecond arrays, so the two give identical vectors (tested).
Nothing looks past the reading's own time: lags look back, context events count only once they happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd

from models.api import ContextEvent, ContextKind

NS_PER_MIN: Final = 60_000_000_000
LAGS: Final = (5, 10, 15, 20, 30, 45, 60)  # minutes
GRID: Final = tuple(range(0, 60, 5))  # the last hour on a 5-minute grid, for window statistics
LAG_TOLERANCE_MIN: Final = 4.0  # a lag is the newest reading at or before t-lag, no older than this
CONTEXT_HORIZON_MIN: Final = 360.0
RISE_MGDL: Final = 20.0  # a rise of 20 mg/dL in 15 minutes marks a probable meal
RISE_OVER_MIN: Final = 15
CARB_TAU_MIN: Final = 30.0  # gamma(2) absorption: peak rate 30 minutes after the meal
INSULIN_TAU_MIN: Final = 55.0  # gamma(2) action: peak activity 55 minutes after rapid insulin
BG_LOW: Final = 39.0
BG_HIGH: Final = 400.0
# The worker keeps this much history: 6 h of context and rise lookback + 15 min for the rise itself.
WINDOW: Final = timedelta(minutes=CONTEXT_HORIZON_MIN + RISE_OVER_MIN + 5)

FEATURES: Final = (
    "g",
    *(f"dg_{lag}" for lag in LAGS),
    "accel",
    "win_mean_rel", "win_std", "win_min_rel", "win_max_rel", "win_count",
    "tod_sin", "tod_cos",
    "cob", "carb_rate", "carb_next30", "carb_next60", "min_since_carbs",
    "iob", "ins_rate", "ins_next30", "ins_next60", "min_since_insulin",
    "min_since_rise",
)
HORIZONS: Final = (30, 60)


def _gamma2_cdf(age_min: np.ndarray, tau: float) -> np.ndarray:
    """Fraction absorbed/acted after `age_min` minutes on a gamma(k=2) curve: 1 - (1 + a/tau) e^(-a/tau)."""
    a = np.maximum(age_min, 0.0) / tau
    done: np.ndarray = 1.0 - (1.0 + a) * np.exp(-a)
    return done


def _gamma2_rate(age_min: np.ndarray, tau: float) -> np.ndarray:
    """Per-minute rate of the same curve: a/tau^2 e^(-a/tau)."""
    a = np.maximum(age_min, 0.0)
    rate: np.ndarray = a / (tau * tau) * np.exp(-a / tau)
    return rate


def _lookup(ts: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Value of the newest reading at or before each time in `at` (no older than the tolerance), else NaN."""
    if len(ts) == 0:
        return np.full(len(at), np.nan)
    idx = np.searchsorted(ts, at, side="right") - 1
    safe = np.maximum(idx, 0)
    ok = (idx >= 0) & ((at - ts[safe]) <= LAG_TOLERANCE_MIN * NS_PER_MIN)
    return np.where(ok, values[safe], np.nan)


def _context(ev_ts: np.ndarray, ev_amount: np.ndarray, t: np.ndarray, tau: float) -> np.ndarray:
    """(on board, rate, next 30 min, next 60 min, minutes since the last event) for each time in t."""
    out = np.zeros((len(t), 5))
    out[:, 4] = CONTEXT_HORIZON_MIN
    if len(ev_ts) == 0:
        return out
    age = (t[:, None] - ev_ts[None, :]) / NS_PER_MIN  # minutes, rows = targets
    live = (age >= 0) & (age < CONTEXT_HORIZON_MIN)
    amount = np.where(live, ev_amount[None, :], 0.0)
    done = _gamma2_cdf(age, tau)
    out[:, 0] = (amount * (1.0 - done)).sum(axis=1)
    out[:, 1] = (amount * _gamma2_rate(age, tau)).sum(axis=1)
    out[:, 2] = (amount * (_gamma2_cdf(age + 30.0, tau) - done)).sum(axis=1)
    out[:, 3] = (amount * (_gamma2_cdf(age + 60.0, tau) - done)).sum(axis=1)
    out[:, 4] = np.where(live, age, CONTEXT_HORIZON_MIN).min(axis=1)
    return out


def _features(
    ts: np.ndarray,
    g: np.ndarray,
    carbs_ts: np.ndarray,
    carbs: np.ndarray,
    ins_ts: np.ndarray,
    ins: np.ndarray,
    targets: np.ndarray,
) -> np.ndarray:
    """Feature matrix (len(targets) x len(FEATURES)) for readings at positions `targets` of ts/g."""
    t = ts[targets]
    g = np.minimum(np.maximum(g, BG_LOW), BG_HIGH)
    now = g[targets]
    cols: list[np.ndarray] = [now]
    offsets = sorted(set(LAGS) | set(GRID[1:]))
    # one searchsorted for every (reading, offset) pair: (len(t) x len(offsets))
    table = _lookup(ts, g, (t[:, None] - np.asarray(offsets, dtype=np.int64)[None, :] * NS_PER_MIN).ravel())
    table = table.reshape(len(t), len(offsets))
    lagged = {m: table[:, i] for i, m in enumerate(offsets)}
    cols.extend(now - lagged[lag] for lag in LAGS)
    cols.append(2.0 * (now - lagged[5]) - (now - lagged[10]))
    grid = np.column_stack([now] + [lagged[m] for m in GRID[1:]])
    count = np.sum(~np.isnan(grid), axis=1).astype(float)
    mean = np.nanmean(grid, axis=1)
    cols.extend([mean - now, np.nanstd(grid, axis=1), np.nanmin(grid, axis=1) - now,
                 np.nanmax(grid, axis=1) - now, count])
    minute_of_day = (t // NS_PER_MIN) % 1440
    angle = 2.0 * np.pi * minute_of_day / 1440.0
    cols.extend([np.sin(angle), np.cos(angle)])
    cols.extend(_context(carbs_ts, carbs, t, CARB_TAU_MIN).T)
    cols.extend(_context(ins_ts, ins, t, INSULIN_TAU_MIN).T)
    # meal proxy: minutes since the newest reading that rose >= 20 mg/dL over 15 minutes
    rise = (g - _lookup(ts, g, ts - RISE_OVER_MIN * NS_PER_MIN)) >= RISE_MGDL
    rise_ts = ts[rise]
    since = np.full(len(t), CONTEXT_HORIZON_MIN)
    if len(rise_ts):
        j = np.searchsorted(rise_ts, t, side="right") - 1
        age = (t - rise_ts[np.clip(j, 0, None)]) / NS_PER_MIN
        since = np.where(j >= 0, np.minimum(age, CONTEXT_HORIZON_MIN), CONTEXT_HORIZON_MIN)
    cols.append(since)
    return np.column_stack(cols).astype(np.float64)


def _ns(series: pd.Series) -> np.ndarray:
    ns: np.ndarray = series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").astype("int64").to_numpy()
    return ns


def feature_frame(readings: pd.DataFrame) -> pd.DataFrame:
    """One row per CGM reading: patient_key, measured_at, subgroup (if present), FEATURES, and y30/y60.

    y_h is the glucose change from the reading to the newest reading at or before t+h (within 4 min),
    NaN when that reading is missing. Targets are labels only; no feature reads them.
    """
    parts: list[pd.DataFrame] = []
    for key, unsorted in readings.groupby("patient_key", sort=True):
        one = unsorted.sort_values("measured_at", kind="stable")
        cgm = one[one.kind.isin(["cgm", "glucose"])]
        carbs = one[one.kind == "carbs"]
        ins = one[(one.kind == "insulin") & (one.context.fillna("rapid") != "long")]
        ts = _ns(cgm.measured_at)
        g = cgm.value.to_numpy(dtype=float)
        matrix = _features(ts, g, _ns(carbs.measured_at), carbs.value.to_numpy(dtype=float),
                           _ns(ins.measured_at), ins.value.to_numpy(dtype=float), np.arange(len(ts)))
        part = pd.DataFrame(matrix, columns=list(FEATURES))
        part.insert(0, "measured_at", cgm.measured_at.to_numpy())
        part.insert(0, "patient_key", key)
        if "subgroup" in cgm.columns:
            part.insert(2, "subgroup", cgm.subgroup.to_numpy())
        clipped = np.clip(g, BG_LOW, BG_HIGH)
        for h in HORIZONS:
            part[f"y{h}"] = _lookup(ts, clipped, ts + h * NS_PER_MIN) - clipped
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _ns_of(ts: datetime) -> int:
    return ((ts - _EPOCH) // timedelta(microseconds=1)) * 1000


def live_vector(
    times: Sequence[datetime],
    values_mgdl: Sequence[float],
    now: datetime,
    context: Sequence[ContextEvent] = (),
) -> tuple[np.ndarray, datetime, float] | None:
    """The feature vector of the newest reading at or before `now`, from the worker's window.

    Returns (vector, that reading's time, its clamped value), or None without a reading.
    The window should hold at least WINDOW of history for the vector to equal the training one.
    """
    cut = _ns_of(now)
    ts = np.fromiter((_ns_of(t) for t in times), dtype=np.int64, count=len(times))
    keep = ts <= cut
    ts, g = ts[keep], np.asarray(values_mgdl, dtype=float)[keep]
    if len(ts) == 0:
        return None
    order = np.argsort(ts, kind="stable")
    ts, g = ts[order], g[order]
    carbs = [e for e in context if e.kind is ContextKind.CARBS]
    ins = [e for e in context if e.kind is ContextKind.INSULIN and e.insulin_type != "long"]
    vec = _features(
        ts, g,
        np.array([_ns_of(e.at) for e in carbs], dtype=np.int64), np.array([e.amount for e in carbs], dtype=float),
        np.array([_ns_of(e.at) for e in ins], dtype=np.int64), np.array([e.amount for e in ins], dtype=float),
        np.array([len(ts) - 1]),
    )[0]
    last = _EPOCH + timedelta(microseconds=int(ts[-1]) // 1000)
    return vec, last, float(np.clip(g[-1], BG_LOW, BG_HIGH))


def context_from_frame(readings: pd.DataFrame) -> list[ContextEvent]:
    """Context events of one patient's readings frame as ContextEvent records."""
    events = readings[readings.kind.isin(["carbs", "insulin"])]
    return [
        ContextEvent(at=row.measured_at.to_pydatetime(), kind=ContextKind(row.kind), amount=float(row.value),
                     insulin_type=row.context if row.kind == "insulin" and isinstance(row.context, str) else None)
        for row in events.itertuples()
    ]
