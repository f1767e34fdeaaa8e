"""Honest offline evaluation: held-out patients, the same rows for every method, per-subgroup metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

import numpy as np
import pandas as pd

from models.api import Forecast, prob_below
from models.baseline import ar2_inputs, ar2_path
from models.features import FEATURES, HORIZONS
from models.forecast import PERSONAL_MIN_DAYS, ForecastModel, fit_correction, interpolate, neutralize

METHODS: Final = ("last_value", "ar2", "population", "personalized", "population_cgm", "personalized_cgm")
HYPO: Final = 70.0
ALERT_PROB: Final = 0.5  # predicted-low alert when the forecast says < 70 within 30 min
EPISODE_GAP: Final = timedelta(minutes=30)


def split_patients(patients: pd.DataFrame, test_per_group: int, seed: int) -> tuple[list[str], list[str]]:
    """(train keys, test keys): `test_per_group` patients of each subgroup held out, chosen by seed."""
    rng = np.random.default_rng(seed)
    train: list[str] = []
    test: list[str] = []
    for _, group in patients.groupby("subgroup", sort=True):
        keys = sorted(group.patient_key.unique())
        held = set(rng.choice(keys, size=min(test_per_group, len(keys) - 1), replace=False).tolist())
        test.extend(k for k in keys if k in held)
        train.extend(k for k in keys if k not in held)
    return train, test


def _ar2_levels(frame: pd.DataFrame) -> dict[int, np.ndarray]:
    """AR2's 30- and 60-minute forecasts for each row, exactly as models.baseline computes them."""
    out = {h: np.full(len(frame), np.nan) for h in HORIZONS}
    pos = 0
    for _, one in frame.groupby("patient_key", sort=False):
        times = [t.to_pydatetime() for t in one.measured_at]
        values = one.g.to_list()
        for i in range(len(one)):
            lo = max(0, i - 6)
            inputs = ar2_inputs(times[lo:i + 1], values[lo:i + 1], times[i])
            if inputs is not None:
                path = ar2_path(*inputs)
                for h in HORIZONS:
                    bg = 140.0 * math.exp(path[h // 5 - 1])
                    out[h][pos + i] = max(36.0, min(400.0, math.floor(bg + 0.5)))
        pos += len(one)
    return out


def predictions(model: ForecastModel, test_frame: pd.DataFrame) -> pd.DataFrame:
    """Per evaluated row: actual and every method's forecast at each horizon.

    Each test patient's first PERSONAL_MIN_DAYS days personalize the model and are not scored;
    all methods are scored on the remaining days, on rows where AR2 could forecast.
    """
    frame = test_frame.sort_values(["patient_key", "measured_at"], kind="stable").reset_index(drop=True)
    ar2 = _ar2_levels(frame)
    parts: list[pd.DataFrame] = []
    for key, one in frame.groupby("patient_key", sort=False):
        start = one.measured_at.min()
        calib = one[one.measured_at < start + pd.Timedelta(days=PERSONAL_MIN_DAYS)]
        scored = one[one.measured_at >= start + pd.Timedelta(days=PERSONAL_MIN_DAYS)]
        out = scored[["patient_key", "subgroup", "measured_at", "g"]].copy()
        for h in HORIZONS:
            out[f"actual{h}"] = scored.g + scored[f"y{h}"]
            out[f"last_value{h}"] = scored.g
            out[f"ar2{h}"] = ar2[h][scored.index]
        variants = [("", model, calib, scored)]
        if model.cgm_only is not None:  # the same patients as if they logged no carbs or insulin
            variants.append(("_cgm", model.cgm_only, neutralize(calib), neutralize(scored)))
        for suffix, variant, calib_rows, rows in variants:
            correction = fit_correction(variant, calib_rows)
            personal = replace(variant, corrections={str(key): correction} if correction else {})
            x = rows[list(FEATURES)].to_numpy(dtype=float)
            for h in HORIZONS:
                pop = variant.predict(x, h)
                per = personal.predict(x, h, str(key))
                for name, pred in (("population", pop), ("personalized", per)):
                    out[f"{name}{suffix}{h}"] = pred["mean"]
                    out[f"{name}{suffix}{h}_p10"] = pred["p10"]
                    out[f"{name}{suffix}{h}_p90"] = pred["p90"]
        parts.append(out)
    result = pd.concat(parts, ignore_index=True)
    return result[result[[f"ar2{h}" for h in HORIZONS]].notna().all(axis=1)].reset_index(drop=True)


def clarke_zone(ref: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Clarke error grid zone (A-E) of each (reference, prediction) pair in mg/dL."""
    zone = np.full(len(ref), "B", dtype="<U1")
    a = (np.abs(pred - ref) <= 0.2 * ref) | ((ref <= 70) & (pred <= 70))
    e = ((ref <= 70) & (pred >= 180)) | ((ref >= 180) & (pred <= 70))
    c = ((ref >= 70) & (ref <= 290) & (pred >= ref + 110)) | (
        (ref >= 130) & (ref <= 180) & (pred <= (7 / 5) * ref - 182))
    d = ((ref >= 240) & (pred >= 70) & (pred <= 180)) | ((ref <= 175 / 3) & (pred >= 70) & (pred <= 180)) | (
        (ref >= 175 / 3) & (ref <= 70) & (pred >= (6 / 5) * ref))
    zone[d] = "D"
    zone[c] = "C"
    zone[e] = "E"
    zone[a] = "A"
    return zone


@dataclass(frozen=True, slots=True)
class AlertStats:
    sensitivity: float
    median_lead_min: float
    false_per_patient_day: float
    episodes: int


def hypo_alerts(rows: pd.DataFrame, method: str, alert_column: str | None = None) -> AlertStats:
    """Predicted-low alerts (30-min forecast < 70, or its p10 < 70 with the quantile methods) vs true lows.

    `alert_column` (a boolean column) replaces the "30-minute forecast < 70" rule when given.
    A true episode starts at a reading < 70 after >= 30 minutes at or above 70. It is caught when an
    alert fired (or the reading itself was already low, for last value) in the 60 minutes before it;
    the lead time is from the first such alert. An alert with no true low in the next 60 minutes is false.
    """
    hits = 0
    leads: list[float] = []
    false_alerts = 0
    episodes = 0
    days = 0.0
    for _, one in rows.groupby("patient_key", sort=False):
        t = one.measured_at.to_numpy()
        g = one.g.to_numpy()
        alert = one[alert_column].to_numpy(dtype=bool) if alert_column else one[f"{method}30"].to_numpy() < HYPO
        # refractory: count one alert per 30 minutes
        fired = np.zeros(len(one), dtype=bool)
        last = None
        for i in np.flatnonzero(alert):
            if last is None or t[i] - last >= np.timedelta64(30, "m"):
                fired[i] = True
                last = t[i]
        low = g < HYPO
        starts = [i for i in range(len(g)) if low[i] and not low[max(0, i - 6):i].any()]
        episodes += len(starts)
        days += (t[-1] - t[0]) / np.timedelta64(1, "D")
        for s in starts:
            window = (t >= t[s] - np.timedelta64(60, "m")) & (t < t[s]) & alert
            if window.any():
                hits += 1
                leads.append(float((t[s] - t[np.flatnonzero(window)[0]]) / np.timedelta64(1, "m")))
        for i in np.flatnonzero(fired):
            ahead = (t > t[i]) & (t <= t[i] + np.timedelta64(60, "m"))
            if not (low[ahead].any() or low[i]):
                false_alerts += 1
    return AlertStats(
        sensitivity=hits / episodes if episodes else float("nan"),
        median_lead_min=float(np.median(leads)) if leads else float("nan"),
        false_per_patient_day=false_alerts / days if days else float("nan"),
        episodes=episodes,
    )


def prob_low_30(rows: pd.DataFrame, method: str) -> np.ndarray:
    """P(< 70 within 30 min) per row with models.api.prob_below on the forecaster's own 5-minute points."""
    out = np.empty(len(rows))
    cols = rows[["g", f"{method}30_p10", f"{method}30", f"{method}30_p90"]].to_numpy(dtype=float)
    made = pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime()
    for i, (g, p10, p50, p90) in enumerate(cols):
        points = interpolate([(0, g, g, g), (30, min(p10, p50), p50, max(p90, p50))])
        out[i] = prob_below(Forecast(made, points, method, "eval"), HYPO, 30)
    return out


def alert_policies(rows: pd.DataFrame) -> pd.DataFrame:
    """Predicted-low alert policies compared on the same rows: point forecasts vs forecast probability."""
    rows = rows.copy()
    policies: list[tuple[str, str]] = []
    for method in ("ar2", "population", "personalized", "personalized_cgm"):
        if f"{method}30" not in rows.columns:
            continue
        rows[f"alert_{method}"] = rows[f"{method}30"] < HYPO
        policies.append((f"{method}: 30-min forecast < 70", f"alert_{method}"))
    prob = prob_low_30(rows, "personalized")
    for level in (0.3, 0.5):
        rows[f"alert_p{level}"] = prob >= level
        policies.append((f"personalized: P(< 70 within 30 min) >= {level}", f"alert_p{level}"))
    records = []
    for name, col in policies:
        stats = hypo_alerts(rows, "", col)
        records.append({"policy": name, "hypo_sens": stats.sensitivity, "lead_min": stats.median_lead_min,
                        "false_per_day": stats.false_per_patient_day, "hypo_episodes": stats.episodes})
    return pd.DataFrame.from_records(records)


def metrics_table(rows: pd.DataFrame, methods: Sequence[str] = METHODS) -> pd.DataFrame:
    """RMSE/MAE at 30/60, Clarke A+B % at 30, hypo-alert stats; per subgroup and overall."""
    records: list[dict[str, object]] = []
    groups = [("overall", rows)] + [(str(g), r) for g, r in rows.groupby("subgroup", sort=True)]
    for group, part in groups:
        for method in methods:
            rec: dict[str, object] = {"subgroup": group, "method": method, "n": len(part),
                                      "patients": part.patient_key.nunique()}
            for h in HORIZONS:
                ok = part[f"actual{h}"].notna()
                err = part.loc[ok, f"{method}{h}"] - part.loc[ok, f"actual{h}"]
                rec[f"rmse{h}"] = float(np.sqrt(np.mean(err**2)))
                rec[f"mae{h}"] = float(np.mean(np.abs(err)))
            ok = part["actual30"].notna()
            zones = clarke_zone(part.loc[ok, "actual30"].to_numpy(), part.loc[ok, f"{method}30"].to_numpy())
            rec["clarke_ab30"] = float(np.isin(zones, ["A", "B"]).mean() * 100)
            stats = hypo_alerts(part, method)
            rec["hypo_sens"] = stats.sensitivity
            rec["lead_min"] = stats.median_lead_min
            rec["false_per_day"] = stats.false_per_patient_day
            rec["hypo_episodes"] = stats.episodes
            records.append(rec)
    return pd.DataFrame.from_records(records)


