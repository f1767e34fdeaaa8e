"""Glucose rules: levels with persistence and compression-low confirmation, rate of change, predicted lows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from models.api import Forecaster
from models.baseline import AR2, STEP_MINUTES, STEPS, ar2_medians
from monitor import trend
from monitor.epoch import seconds as epoch_seconds
from monitor.findings import Finding
from monitor.frozen import Frozen, quick_init
from monitor.records import Severity
from monitor.targets import Targets
from monitor.trend import previous, push, rate_per_min

FORECAST_BELOW_MGDL: Final = 160.0  # above this no 30-minute forecast reaches 70 at physiological rates
FORECAST_POINTS: Final = 12
TREND_AGREES: Final = -0.5  # mg/dL/min: a predicted low needs the robust trend to be falling too (noise guard)
# Alert fatigue (measured in the evaluation): a predicted_low must be forecast on two consecutive readings (at once
# when the forecast reaches level 2 within the horizon, so lead time for < 54 is kept), and a rate of change alerts
# only at the urgent rate when its straight line leaves the target range within RATE_HORIZON_MIN minutes.
RATE_HORIZON_MIN: Final = 30.0


@quick_init
@dataclass(frozen=True, slots=True)
class GlucoseState(Frozen):
    """What the glucose rules remember: the window, persistence starts and an unconfirmed low."""

    window: trend.Window = ()
    slope: float | None = None
    high_since: int | None = None
    very_high_since: int | None = None
    pending_low: tuple[int, float, str] | None = None  # (t, mg/dL, reading id) awaiting a confirmation
    forecast_low_t: int | None = None  # event time of the last reading whose forecast went below `low`


def _since(started: int | None, prev: trend.Point | None, t: int, outside: bool) -> int | None:
    """Start of the current run outside a threshold; a gap (no previous reading within 15 min) restarts it."""
    if not outside:
        return None
    if started is None or prev is None:
        return t
    return started


_Scored = tuple[str, datetime, float, float | None, trend.Window]  # reading id, time, mg/dL, slope, window


def _add(out: list[Finding], scored: _Scored, family: str, level: str, kind: str, severity: Severity, rule: str,
         reason: str, thresholds: dict[str, float], ids: Sequence[str] | None = None, forecast: Outlook | None = None,
         forecast_mgdl: float | None = None) -> None:
    """Appends one finding of the scored reading (its own id unless `ids` names the readings it rests on)."""
    reading_id, at, value, slope, window = scored
    recent = {f"mgdl_{i}": v for i, (_, v) in enumerate(window[-4:])}
    out.append(Finding(
        family=family, level=level, kind=kind, severity=severity, rule=rule, reason=reason,
        reading_ids=(reading_id,) if ids is None else tuple(ids), measured_at=at, value=value,
        thresholds=tuple(thresholds.items()), values=tuple(recent.items()), trend_mgdl_per_min=slope,
        forecast_mgdl=forecast_mgdl, model_name=forecast[0] if forecast else "rules",
        model_version=forecast[1] if forecast else "rules-2",
    ))


def _forecast_reason(value: float, slope: float | None, model: str, point: tuple[int, float]) -> str:
    return f"Glucose {value:.0f} mg/dL{_trend_words(slope)}; {model} forecasts {point[1]:.0f} mg/dL in {point[0]} min."


def _trend_words(slope: float | None) -> str:
    if slope is None:
        return ""
    if abs(slope) < 1.0:
        return ", steady"
    return f", {'falling' if slope < 0 else 'rising'} {abs(slope):.1f} mg/dL/min"


Outlook = tuple[str, str, list[tuple[int, float]]]  # (model name, version, [(minutes, p50)] by minutes)


def _forecast(forecaster: Forecaster, window: trend.Window, at: datetime, t: int, within: float
              ) -> Outlook | None:
    """The forecaster's median path from the window's last FORECAST_POINTS points (AR2 without datetimes: only
    its points up to `within` minutes, the furthest any rule looks)."""
    pts = window[-FORECAST_POINTS:]
    if type(forecaster) is AR2:  # the default: same numbers as AR2.forecast, no Forecast objects built
        try:
            medians = ar2_medians([p[0] for p in pts], [p[1] for p in pts], t, at.microsecond,
                                  steps=int(within // STEP_MINUTES))
        except (ValueError, ArithmeticError):
            return None
        if medians is None:
            return None
        return forecaster.name, forecaster.version, list(zip(_AR2_MINUTES, medians, strict=False))
    times = [datetime.fromtimestamp(p[0], UTC) for p in pts]
    try:
        forecast = forecaster.forecast(times, [v for _, v in pts], at)
    except (ValueError, ArithmeticError):
        return None  # a forecaster failure degrades to the level rules, never stops scoring
    if forecast is None:
        return None
    return (forecast.model_name, forecast.model_version,
            [(p.minutes, p.p50) for p in sorted(forecast.points, key=lambda p: p.minutes)])


_AR2_MINUTES: Final = tuple(range(STEP_MINUTES, STEPS * STEP_MINUTES + 1, STEP_MINUTES))


def _first_below(outlook: Outlook, threshold: float, within: float) -> tuple[int, float] | None:
    for minutes, p50 in outlook[2]:
        if minutes <= within and p50 < threshold:
            return minutes, p50
    return None


def _heading_out(value: float, slope: float, targets: Targets) -> bool:
    """A rate alert is worth a message only at the urgent rate (3 mg/dL/min) when its straight line leaves the
    range within RATE_HORIZON_MIN: a fall into a low; a rise only past the patient's rise_alert_mgdl (off by
    default: the high rules follow). Slower changes and a rise after a meal are expected; they appear in every
    explanation's trend words, never as a message alone.
    Measured on the seed-7 10x14-day cohort: 439 rapid_rise and 82 rapid_fall alerts became 0 and 55."""
    if abs(slope) < targets.rate_urgent:
        return False
    projected = value + RATE_HORIZON_MIN * slope
    if slope < 0:
        return projected < targets.low
    return targets.rise_alert_mgdl is not None and projected > targets.rise_alert_mgdl


def glucose_findings(state: GlucoseState, reading_id: str, at: datetime, value: float, targets: Targets,
                     forecaster: Forecaster | None) -> tuple[GlucoseState, list[Finding]]:
    """Scores one glucose value (mg/dL) at event time `at` against the patient's targets."""
    t = epoch_seconds(at)
    base = state.window
    if state.pending_low is not None and value >= targets.low:  # the suspected compression low was an artefact
        base = tuple(p for p in base if p[0] != state.pending_low[0])
    prev = previous(base, t)  # module functions as globals: `trend.x` is a module attribute lookup a call
    window = push(base, t, value)
    slope = rate_per_min(window)
    out: list[Finding] = []
    pending = state.pending_low
    if pending is not None and (t <= pending[0] or t - pending[0] > 15 * 60):
        pending = None  # only the next reading within 15 minutes can confirm
    # what every finding of this reading shares; the trend words are formatted only for a finding (most readings
    # have none: a closure and a float format on each cost ~1 us of a ~22 us reading, ninth session)
    scored: _Scored = (reading_id, at, value, slope, window)

    # levels: urgent lows at once; a low after an implausibly steep drop waits for one confirming reading
    new_pending: tuple[int, float, str] | None = None
    if value < targets.urgent_low:
        _add(out, scored, "low", "urgent_low", "urgent_low", Severity.URGENT,
             f"glucose_below_{targets.urgent_low:g}",
             f"Glucose {value:.0f} mg/dL is below {targets.urgent_low:.0f} mg/dL (urgent low){_trend_words(slope)}.",
             {"urgent_low_mgdl": targets.urgent_low})
    elif value < targets.low:
        drop = None if prev is None else (prev[1] - value) / max((t - prev[0]) / 60.0, 1.0)
        if pending is not None:
            _add(out, scored, "low", "low", "low", Severity.WARNING, f"glucose_below_{targets.low:g}_confirmed",
                 f"Glucose {value:.0f} mg/dL is below {targets.low:.0f} mg/dL on two readings"
                 f"{_trend_words(slope)}.",
                 {"low_mgdl": targets.low, "compression_drop_mgdl_per_min": targets.compression_drop},
                 ids=(pending[2], reading_id))
        elif drop is not None and drop > targets.compression_drop:
            new_pending = (t, value, reading_id)  # likely a compression low: no alert yet
        else:
            _add(out, scored, "low", "low", "low", Severity.WARNING, f"glucose_below_{targets.low:g}",
                 f"Glucose {value:.0f} mg/dL is below {targets.low:.0f} mg/dL{_trend_words(slope)}.",
                 {"low_mgdl": targets.low})

    # persistence of highs: "outside the threshold for n minutes"
    high_since = _since(state.high_since, prev, t, value > targets.high)
    very_since = _since(state.very_high_since, prev, t, value > targets.very_high)
    if very_since is not None and t - very_since >= targets.very_high_persist_min * 60:
        _add(out, scored, "high", "very_high", "very_high", Severity.URGENT, f"glucose_above_{targets.very_high:g}",
             f"Glucose {value:.0f} mg/dL has been above {targets.very_high:.0f} mg/dL for "
             f"{(t - very_since) / 60:.0f} min{_trend_words(slope)}.",
             {"very_high_mgdl": targets.very_high, "persist_min": targets.very_high_persist_min})
    elif high_since is not None and t - high_since >= targets.high_persist_min * 60:
        _add(out, scored, "high", "high", "high", Severity.WARNING, f"glucose_above_{targets.high:g}",
             f"Glucose {value:.0f} mg/dL has been above {targets.high:.0f} mg/dL for "
             f"{(t - high_since) / 60:.0f} min{_trend_words(slope)}.",
             {"high_mgdl": targets.high, "persist_min": targets.high_persist_min})

    # rate of change
    if slope is not None and abs(slope) >= targets.rate_warn and _heading_out(value, slope, targets):
        urgent = abs(slope) >= targets.rate_urgent
        direction = "fall" if slope < 0 else "rise"
        limit = targets.rate_urgent if urgent else targets.rate_warn
        _add(out, scored, direction, f"rapid_{direction}{'_urgent' if urgent else ''}", f"rapid_{direction}",
             Severity.WARNING if urgent else Severity.INFO, f"rate_{direction}_{limit:g}_per_min",
             f"Glucose {value:.0f} mg/dL is {'falling' if slope < 0 else 'rising'} {abs(slope):.1f} mg/dL/min "
             f"(limit {limit:g}).", {"rate_mgdl_per_min": limit})

    # predicted lows from the patient's forecaster (or AR2); both need a falling (or not yet known) trend, so a
    # steady or rising one asks for no forecast at all (same findings, no model call)
    falling = slope is not None and slope <= TREND_AGREES
    forecast_low_t: int | None = None
    if (forecaster is not None and (falling or slope is None) and new_pending is None
            and targets.urgent_low <= value < FORECAST_BELOW_MGDL):
        forecast = _forecast(forecaster, window, at, t, max(targets.urgent_soon_min, targets.predicted_low_min))
        if forecast is not None:
            soon = _first_below(forecast, targets.urgent_low, targets.urgent_soon_min)
            later = _first_below(forecast, targets.low, targets.predicted_low_min) if value >= targets.low else None
            forecast_low_t = t if later is not None and falling else None
            confirmed = state.forecast_low_t is not None and prev is not None and prev[0] == state.forecast_low_t
            if soon is not None and (falling or slope is None):
                _add(out, scored, "low", "urgent_low_soon", "urgent_low_soon", Severity.URGENT,
                     f"forecast_below_{targets.urgent_low:g}_within_{targets.urgent_soon_min:g}_min",
                     _forecast_reason(value, slope, f"{forecast[0]} {forecast[1]}", soon),
                     {"urgent_low_mgdl": targets.urgent_low, "within_min": targets.urgent_soon_min},
                     forecast=forecast, forecast_mgdl=soon[1])
            elif later is not None and forecast_low_t is not None and (  # on two readings, or steep
                    confirmed or _first_below(forecast, targets.urgent_low, targets.predicted_low_min) is not None):
                _add(out, scored, "low", "predicted_low", "predicted_low", Severity.WARNING,
                     f"forecast_below_{targets.low:g}_within_{targets.predicted_low_min:g}_min",
                     _forecast_reason(value, slope, f"{forecast[0]} {forecast[1]}", later),
                     {"low_mgdl": targets.low, "within_min": targets.predicted_low_min},
                     forecast=forecast, forecast_mgdl=later[1])

    return GlucoseState(window, slope, high_since, very_since, new_pending, forecast_low_t), out
