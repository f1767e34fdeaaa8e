"""Daily summary metrics against hand-computed values and the consensus targets."""

from __future__ import annotations

import pytest

from monitor.summary import stats_of, summarize


def test_metrics_hand_computed():
    s = summarize("p1", stats_of("2026-01-05", [50, 65, 100, 150, 200, 300]), expected_per_day=12)
    assert (s.tbr_pct, s.tbr54_pct, s.tir_pct, s.tar_pct, s.tar250_pct) == (33.3, 16.7, 33.3, 33.3, 16.7)
    assert s.mean_mgdl == pytest.approx(144.2, abs=0.1)
    assert s.gmi_pct == pytest.approx(3.31 + 0.02392 * 865 / 6, abs=0.01)
    assert s.sufficiency_pct == 50.0 and not s.sufficient
    assert "tir_pct" in s.missed


def test_consensus_met_for_a_steady_day():
    s = summarize("p1", stats_of("2026-01-05", [110, 120, 130] * 96))
    assert set(s.met) == {"tir_pct", "tbr_pct", "tbr54_pct", "tar_pct", "tar250_pct", "cv_pct"}
    assert s.sufficient and s.readings == 288


def test_empty_day_has_no_metrics():
    s = summarize("p1", stats_of("2026-01-05", []))
    assert (s.tir_pct, s.mean_mgdl, s.cv_pct, s.met, s.missed) == (None, None, None, (), ())
