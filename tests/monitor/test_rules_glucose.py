"""Every glucose rule, table-driven through the real engine (MonitorHarness)."""

from __future__ import annotations

import pytest

from monitor.records import AlertState
from monitor.targets import Targets
from monitor.testing import MonitorHarness, cgm_series, reading


def run(values, targets=None, every=5.0):
    h = MonitorHarness()
    if targets:
        h.targets["p1"] = targets
    return h, h.feed(*cgm_series(values, every_min=every))


@pytest.mark.parametrize(("values", "expected"), [
    ([62], [("low", "open")]),
    ([50], [("urgent_low", "open")]),
    ([100, 100, 100], []),
    ([120, 68], []),  # 10 mg/dL/min into a low: a likely compression low waits for a confirmation
    ([120, 68, 66], [("low", "open")]),  # confirmed by the next reading
    ([120, 68, 95], []),  # not confirmed: an artefact, no alert
    ([120, 50], [("urgent_low", "open")]),  # below 54 alerts at once, artefact or not
    ([190] * 6, []),  # above 180 for 25 min: not yet (persistence 30 min)
    ([190] * 7, [("high", "open")]),  # 30 min
    ([260] * 4, [("very_high", "open")]),  # above 250 for 15 min
    ([150, 140, 130, 120, 110], []),  # 2 mg/dL/min: trend words in explanations, never a message alone
    ([100, 112, 124, 136], []),  # a rise after a meal
    ([200, 185, 170, 155, 140], [("rapid_fall", "open")]),  # 3 mg/dL/min, heading below 70 within 30 min
    ([240, 225, 210, 195, 180], []),  # 3 mg/dL/min but staying above 70: good news, no message
    ([170, 187, 204, 221], []),  # 3.4 mg/dL/min towards 250: rises alert only when the patient opted in
    ([68, 72, 68, 72, 68, 72, 68, 72, 68, 72, 68, 72, 68], [("low", "open")]),  # flapping: one episode
])
def test_glucose_rules(values, expected):
    _, alerts = run(values)
    assert [(a.kind, a.state.value) for a in alerts] == expected


def test_flapping_for_an_hour_gives_one_low_episode():
    h, alerts = run([68 + (i % 5) for i in range(13)])  # 68-72 every 5 min for an hour
    assert [(a.kind, a.state) for a in alerts] == [("low", AlertState.OPEN)]
    assert h.open_episodes() == {"low": "low"}


def test_rapid_fall_thresholds_two_levels():
    _, alerts = run([200, 185, 170, 155, 140])  # 3 mg/dL/min
    assert alerts[0].kind == "rapid_fall" and alerts[0].severity.value == "warning"
    assert alerts[0].explanation.thresholds == {"rate_mgdl_per_min": 3.0}


def test_rapid_rise_alerts_only_past_the_patients_rise_alert_level():
    _, alerts = run([170, 187, 204, 221], Targets(rise_alert_mgdl=250))
    assert [(a.kind, a.state.value) for a in alerts] == [("rapid_rise", "open")]
    _, alerts = run([90, 107, 124, 141], Targets(rise_alert_mgdl=250))  # 3.4 mg/dL/min, below 250 in 30 min
    assert alerts == []


def test_gap_breaks_the_rate_run():
    h = MonitorHarness()
    alerts = h.feed(reading(160, 0), reading(150, 5), reading(100, 30), reading(95, 35))
    assert all(a.kind != "rapid_fall" for a in alerts)


def test_high_persistence_restarts_after_a_gap():
    h = MonitorHarness()
    alerts = h.feed(*[reading(200, m) for m in (0, 5, 10)], *[reading(200, m) for m in (40, 45, 50, 55)])
    assert alerts == []  # the run restarted at 40 after a 30-minute gap


def test_per_patient_targets_override_defaults():
    _, alerts = run([74], Targets(low=75, high=220))
    assert [(a.kind, a.explanation.thresholds) for a in alerts] == [("low", {"low_mgdl": 75.0})]
    _, alerts = run([200] * 8, Targets(low=75, high=220))
    assert alerts == []


def test_predicted_low_needs_the_forecast_on_two_consecutive_readings():
    falling = [150, 140, 130, 120, 110, 100, 90, 80]  # AR2 first forecasts < 70 at 80
    _, alerts = run(falling)
    assert alerts == []
    _, alerts = run([*falling, 95])  # the fall stopped: no alert
    assert alerts == []
    _, alerts = run([*falling, 72])  # forecast again: alerted, on the second reading
    assert [(a.kind, a.triggered_at.minute) for a in alerts] == [("predicted_low", 40)]


def test_predicted_low_names_the_forecaster_and_needs_a_falling_trend():
    _, alerts = run([150, 135, 120, 105, 90, 80])
    predicted = [a for a in alerts if a.kind == "predicted_low"]
    assert predicted and predicted[0].explanation.model_name == "ar2"
    assert predicted[0].explanation.model_version == "nightscout-ar2-1"
    assert predicted[0].explanation.forecast_mgdl is not None and predicted[0].explanation.forecast_mgdl < 70
    _, steady = run([90, 90, 90, 90])
    assert steady == []


class FakeForecaster:
    name, version = "fake", "f-1"

    def __init__(self, value):
        self.value = value

    def forecast(self, times, values_mgdl, now, context=()):
        from models.api import Forecast, ForecastPoint
        pts = tuple(ForecastPoint(m, self.value - 5, self.value, self.value + 5) for m in (5, 10, 15, 20, 25, 30))
        return Forecast(made_at=now, points=pts, model_name=self.name, model_version=self.version)


def test_patient_forecaster_is_used_when_injected():
    h = MonitorHarness(forecaster=FakeForecaster(50.0))
    alerts = h.feed(*cgm_series([110, 105, 100, 95]))
    assert alerts[-1].kind == "urgent_low_soon"
    assert (alerts[-1].explanation.model_name, alerts[-1].explanation.model_version) == ("fake", "f-1")


def test_every_alert_explains_itself_in_one_sms_sentence():
    _, alerts = run([150, 140, 130, 120, 110, 100, 90, 80, 70, 60, 50])
    assert alerts
    for a in alerts:
        e = a.explanation
        assert e.rule and e.reason.endswith(".") and len(e.reason) <= 160
        assert e.model_version
        assert e.thresholds or a.state is AlertState.RESOLVED
