"""Forecast memo: the same answers as the model, computed once per distinct input, bounded, per patient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.api import Forecast
from models.baseline import AR2
from monitor import engine
from monitor.forecast_memo import ForecastMemo
from monitor.testing import cgm_series

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
TIMES = [T0 + timedelta(minutes=5 * i) for i in range(4)]


class CountingAR2(AR2):
    calls = 0

    def forecast(self, *args, **kwargs) -> Forecast | None:  # type: ignore[override]
        CountingAR2.calls += 1
        return super().forecast(*args, **kwargs)


def test_repeats_are_answered_from_the_memo_with_the_same_forecast():
    inner = CountingAR2()
    memo = ForecastMemo(lambda _key: inner)
    first = memo("p1").forecast(TIMES, [150, 140, 130, 120], TIMES[-1])
    again = memo("p1").forecast(TIMES, [150, 140, 130, 120], TIMES[-1])
    assert first == again == AR2().forecast(TIMES, [150, 140, 130, 120], TIMES[-1])
    assert (memo.hits, memo.misses) == (1, 1)


def test_other_values_times_or_patients_are_computed_afresh():
    memo = ForecastMemo(lambda _key: AR2())
    memo("p1").forecast(TIMES, [150, 140, 130, 120], TIMES[-1])
    memo("p1").forecast(TIMES, [150, 140, 130, 121], TIMES[-1])
    memo("p1").forecast(TIMES, [150, 140, 130, 120], TIMES[-1] + timedelta(minutes=1))
    memo("p2").forecast(TIMES, [150, 140, 130, 120], TIMES[-1])
    assert (memo.hits, memo.misses) == (0, 4)


def test_the_memo_is_bounded_and_forgets_the_least_recently_used():
    memo = ForecastMemo(lambda _key: AR2(), size=2)
    for v in (100, 110, 120):
        memo("p1").forecast(TIMES, [150, 140, 130, v], TIMES[-1])
    memo("p1").forecast(TIMES, [150, 140, 130, 100], TIMES[-1])
    assert (memo.hits, memo.misses) == (0, 4)


def test_no_forecaster_stays_none():
    assert ForecastMemo(lambda _key: None)("p1") is None


def test_the_engine_emits_the_same_alerts_with_the_memo_and_forecasts_less():
    """As the worker runs it: the state goes through its table bytes between readings, so a settling reading
    is scored again (in memory the engine keeps each reading's fold state and forecasts it once)."""
    readings = cgm_series([180, 160, 140, 120, 100, 85, 75, 68, 62, 58, 60, 70, 85, 100, 110, 120, 125, 130])
    CountingAR2.calls = 0
    plain_state, plain_alerts = None, []
    for r in readings:
        step = engine.process(engine.load_state(plain_state), r, r.received_at, forecaster=CountingAR2())
        plain_state, plain_alerts = engine.dump_state(step.state), [*plain_alerts, *step.alerts]
    plain_calls, CountingAR2.calls = CountingAR2.calls, 0
    memo = ForecastMemo(lambda _key: CountingAR2())
    state, alerts = None, []
    for r in readings:
        step = engine.process(engine.load_state(state), r, r.received_at, forecaster=memo(r.patient_key))
        state, alerts = engine.dump_state(step.state), [*alerts, *step.alerts]
    assert alerts == plain_alerts and len(alerts) >= 2
    assert state == plain_state
    assert CountingAR2.calls < plain_calls
