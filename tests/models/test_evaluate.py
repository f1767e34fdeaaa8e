"""Evaluation pieces: Clarke zones, hypo-alert counting, patient split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.evaluate import clarke_zone, hypo_alerts, metrics_table, split_patients


@pytest.mark.parametrize(
    ("ref", "pred", "zone"),
    [
        (100, 110, "A"), (100, 121, "B"), (60, 65, "A"), (60, 150, "D"), (50, 200, "E"),
        (200, 60, "E"), (100, 215, "C"), (300, 150, "D"), (150, 25, "C"), (250, 350, "B"),
    ],
)
def test_clarke_zone_table(ref: float, pred: float, zone: str) -> None:
    assert clarke_zone(np.array([ref], float), np.array([pred], float))[0] == zone


def rows_for(g: list[float], pred30: list[float]) -> pd.DataFrame:
    t = pd.date_range("2026-01-01", periods=len(g), freq="5min", tz="UTC")
    return pd.DataFrame({"patient_key": "pk_a", "subgroup": "adult", "measured_at": t, "g": g, "m30": pred30})


def test_hypo_alert_caught_with_lead_time_and_no_false_alert() -> None:
    g = [120.0] * 20 + [100, 90, 80, 72, 65, 60] + [100.0] * 30
    pred = [120.0] * 20 + [80, 66, 60, 60, 60, 60] + [100.0] * 30  # first < 70 at index 21, low at 24
    stats = hypo_alerts(rows_for(g, pred), "m")
    assert stats.episodes == 1
    assert stats.sensitivity == 1.0
    assert stats.median_lead_min == 15.0
    assert stats.false_per_patient_day == 0.0


def test_missed_low_and_false_alert() -> None:
    g = [120.0] * 30 + [65.0] + [120.0] * 300
    pred = [120.0] * 31 + [60.0] + [120.0] * 299  # an alert after the low, none before; nothing follows it
    stats = hypo_alerts(rows_for(g, pred), "m")
    assert stats.sensitivity == 0.0
    days = 330 * 5 / 1440
    assert stats.false_per_patient_day == pytest.approx(1 / days)


def test_split_is_by_patient_per_subgroup_and_seeded() -> None:
    patients = pd.DataFrame({"patient_key": [f"k{i}" for i in range(9)],
                             "subgroup": ["adult"] * 3 + ["child"] * 3 + ["adolescent"] * 3})
    train, test = split_patients(patients, 1, seed=3)
    assert len(test) == 3 and len(train) == 6 and not set(train) & set(test)
    assert split_patients(patients, 1, seed=3) == (train, test)
    groups = patients.set_index("patient_key").subgroup
    assert sorted(groups[test]) == ["adolescent", "adult", "child"]


def test_metrics_table_on_a_perfect_and_a_biased_method() -> None:
    g = np.linspace(80, 200, 50)
    t = pd.date_range("2026-01-01", periods=50, freq="5min", tz="UTC")
    rows = pd.DataFrame({"patient_key": "pk_a", "subgroup": "adult", "measured_at": t, "g": g,
                         "actual30": g + 10, "actual60": g + 20,
                         "good30": g + 10, "good60": g + 20, "bad30": g + 13, "bad60": g + 16})
    table = metrics_table(rows, ("good", "bad")).set_index(["subgroup", "method"])
    assert table.loc[("overall", "good"), "rmse30"] == 0.0
    assert table.loc[("overall", "bad"), "rmse30"] == pytest.approx(3.0)
    assert table.loc[("adult", "bad"), "mae60"] == pytest.approx(4.0)
    assert table.loc[("overall", "good"), "clarke_ab30"] == 100.0


def test_probability_policy_fires_earlier_than_the_point_forecast() -> None:
    from models.evaluate import alert_policies, prob_low_30

    g = [120.0] * 20 + [100, 90, 80, 72, 65, 60] + [100.0] * 30
    point = [120.0] * 20 + [80, 66, 60, 60, 60, 60] + [100.0] * 30
    rows = rows_for(g, point).drop(columns="m30")
    for m in ("ar2", "population", "personalized"):
        rows[f"{m}30"] = point
    # wide lower quantile one reading before the point forecast crosses 70
    rows["personalized30_p10"] = [p - 5 for p in point]
    rows.loc[20, "personalized30_p10"] = 55.0
    rows["personalized30_p90"] = [p + 5 for p in point]
    prob = prob_low_30(rows, "personalized")
    assert prob[20] > 0.3 and prob[0] < 0.01
    table = alert_policies(rows).set_index("policy")
    assert table.loc["personalized: 30-min forecast < 70", "lead_min"] == 15.0
    assert table.loc["personalized: P(< 70 within 30 min) >= 0.3", "lead_min"] == 20.0
