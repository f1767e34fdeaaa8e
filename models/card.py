"""The model card: Markdown table of held-out metrics plus PNG plots (traces, Clarke grid); output not in git."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.forecast import GUARD_GAIN, PERSONAL_FEATURES, PERSONAL_MIN_DAYS


def _plots(rows: pd.DataFrame, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names: list[str] = []
    for group, part in rows.groupby("subgroup", sort=True):
        key = sorted(part.patient_key.unique())[0]
        one = part[part.patient_key == key].iloc[: 288]
        fig, ax = plt.subplots(figsize=(11, 3.5))
        target = one.measured_at + pd.Timedelta(minutes=30)
        ax.plot(one.measured_at, one.g, color="black", lw=1.2, label="CGM")
        ax.plot(target, one.ar230, color="tab:orange", lw=0.9, label="AR2 +30 min")
        ax.plot(target, one.personalized30, color="tab:blue", lw=0.9, label="vigil personalized +30 min")
        ax.fill_between(target, one.personalized30_p10, one.personalized30_p90, color="tab:blue", alpha=0.15,
                        label="p10-p90")
        ax.axhline(70, color="red", lw=0.6, ls="--")
        ax.set_ylabel("mg/dL")
        ax.set_title(f"{group}: 30-minute forecasts against what happened (one held-out patient, one day)")
        ax.legend(loc="upper right", fontsize=7)
        name = f"trace_{group}.png"
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        names.append(name)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, method in zip(axes, ("ar2", "personalized"), strict=True):
        ok = rows.actual30.notna()
        ax.scatter(rows.loc[ok, "actual30"], rows.loc[ok, f"{method}30"], s=1, alpha=0.2)
        ax.plot([0, 400], [0, 400], color="black", lw=0.6)
        ax.plot([0, 400], [0, 480], color="grey", lw=0.5, ls="--")
        ax.plot([0, 400], [0, 320], color="grey", lw=0.5, ls="--")
        ax.set_xlim(0, 400)
        ax.set_ylim(0, 400)
        ax.set_xlabel("actual at +30 min (mg/dL)")
        ax.set_ylabel("forecast (mg/dL)")
        ax.set_title(f"Clarke error grid, {method} (+-20 % lines)")
    fig.tight_layout()
    fig.savefig(out / "clarke_30.png", dpi=110)
    plt.close(fig)
    names.append("clarke_30.png")
    return names


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "n/a" if np.isnan(x) else f"{x:.2f}"
    return str(x)


def write_card(table: pd.DataFrame, rows: pd.DataFrame, manifest: Mapping[str, Any], out: Path,
               timing: Mapping[str, float] | None = None, policies: pd.DataFrame | None = None) -> Path:
    """Writes model_card.md and its PNGs into `out`; returns the card's path."""
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(rows, out)
    cols = ["subgroup", "method", "patients", "n", "rmse30", "mae30", "rmse60", "mae60", "clarke_ab30",
            "hypo_sens", "lead_min", "false_per_day", "hypo_episodes"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for _, r in table.iterrows()]
    gains = []
    for group, part in table.groupby("subgroup", sort=False):
        ar2 = float(part.loc[part.method == "ar2", "rmse30"].iloc[0])
        for method in ("population", "personalized", "population_cgm", "personalized_cgm"):
            if not (part.method == method).any():
                continue
            val = float(part.loc[part.method == method, "rmse30"].iloc[0])
            gains.append(f"| {group} | {method} | {ar2:.2f} | {val:.2f} | {100 * (1 - val / ar2):.1f} % |")
    held = manifest.get("held_out", {})
    policy_lines = ["| policy | hypo_sens | lead_min | false_per_day | hypo_episodes |", "|---|---|---|---|---|"]
    if policies is not None:
        policy_lines += [f"| {r.policy} | {_fmt(r.hypo_sens)} | {_fmt(r.lead_min)} | {_fmt(r.false_per_day)} | "
                         f"{r.hypo_episodes} |" for r in policies.itertuples()]
    text = f"""# Model card: {manifest.get('version')}

Glucose forecaster of vigil (30 and 60 minutes ahead). Research and monitoring aid only: it predicts
glucose to warn a care team earlier; it never suggests a medication or insulin dose.

- Training data: simglucose cohort, seed {manifest.get('data_seed')}, SHA-256 `{manifest.get('training_data_sha256')}`
- Training patients: {manifest.get('n_train_patients')}; held-out patients (split by patient, per subgroup):
  {', '.join(f'{g}: {n}' for g, n in held.items()) if held else 'see manifest'}
- Evaluation: each held-out patient's first {PERSONAL_MIN_DAYS:g} days personalize the model and are not
  scored; every method is scored on the remaining days on the same rows.
- Timing: {', '.join(f'{k} {v:.1f} s' for k, v in (timing or {}).items()) or 'n/a'}

## Method

Population model: scikit-learn HistGradientBoostingRegressor per horizon, predicting the change in glucose
(not the level) from lags, differences, window statistics, time of day, carbohydrates and insulin on board
and still to act (gamma curves), and minutes since the last big rise (meal proxy). Quantile models (10th
and 90th percentile) give the interval that `prob_below` turns into "probability < 70 within 30 min".
Trees are exported to plain arrays (NPZ, no pickle).

CGM-only variant (`*_cgm` rows): the same models trained with the carbohydrate and insulin features
neutralized, used by the worker when it has no context events for a patient. Scored here on the same
held-out patients as if they had logged nothing. It exists because the context model, fed no context,
was measured worse than AR2.

Personalization: residual correction. A patient's insulin sensitivity and carb ratio are what a population
model cannot know, and they act mostly through a few quantities (level, trend, carbs and insulin still to
act). After >= {PERSONAL_MIN_DAYS:g} days a ridge regression of the population residual on
{', '.join(PERSONAL_FEATURES)} is fitted per patient. It is guarded: fitted on the first two thirds of
the patient's history and kept only if it cuts the squared error on the last third by >= {GUARD_GAIN:.0%};
otherwise that horizon stays on the population model. This needs minutes of CPU, not a refit of trees,
and degrades to the population model rather than overfitting.

## Held-out results

{chr(10).join(lines)}

RMSE/MAE in mg/dL. clarke_ab30: % of 30-minute forecasts in Clarke zones A+B. Hypo alerts: a predicted-low
alert when the 30-minute forecast is < 70 (one per 30 min); sensitivity = true lows (< 70 after >= 30 min
above) preceded by an alert in the hour before; lead = median minutes from the first such alert; false =
alerts with no low in the next hour, per patient-day. Last value "alerts" only once already low.

## RMSE at 30 minutes against AR2

| subgroup | method | AR2 | model | gain |
|---|---|---|---|---|
{chr(10).join(gains)}

## Predicted-low alert policies (all held-out patients)

The quantile models let alert logic trade sensitivity for false alerts with one number, the probability
of < 70 within 30 minutes (models.api.prob_below on the forecast's 5-minute points).

{chr(10).join(policy_lines)}

## Plots

{chr(10).join(f'![{p}]({p})' for p in plots)}

## Limits

Simulated patients (UVA/Padova via simglucose) with a simulated patient behaviour (carb-counting error,
forgotten and late boluses); real CGM data has artifacts (compression lows, calibration jumps, warm-up)
that this cohort lacks. Times of day are UTC. Small held-out sets per subgroup: treat subgroup numbers
as indicative.
"""
    path = out / "model_card.md"
    path.write_text(text)
    return path
