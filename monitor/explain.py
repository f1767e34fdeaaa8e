"""Turns findings and episode transitions into Alert records that always say why (rule, values, model)."""

from __future__ import annotations

from datetime import datetime

from monitor.episodes import Episode, alert_id_for
from monitor.findings import RULES_VERSION, Finding
from monitor.records import Alert, AlertState, Explanation, Severity, stable_id


def explanation_of(finding: Finding) -> Explanation:
    values = dict(finding.values)
    if finding.value is not None:
        values.setdefault("value", finding.value)
    return Explanation(
        rule=finding.rule,
        reason=finding.reason,
        thresholds=dict(finding.thresholds),
        values=values,
        trend_mgdl_per_min=finding.trend_mgdl_per_min,
        forecast_mgdl=finding.forecast_mgdl,
        model_name=finding.model_name,
        model_version=finding.model_version,
    )



def alert_for(patient_key: str, episode: Episode, state: AlertState, finding: Finding) -> Alert:
    """An open or escalated record for an episode, explained by the finding that moved it."""
    return Alert(
        alert_id=alert_id_for(patient_key, episode.episode_id, episode.level),
        patient_key=patient_key,
        episode_id=episode.episode_id,
        kind=episode.kind,
        severity=episode.severity,
        state=state,
        triggered_at=finding.measured_at,
        reading_ids=episode.reading_ids,
        explanation=explanation_of(finding),
        value_mgdl=finding.value if episode.family in ("low", "high", "fall", "rise") else None,
        recovering=episode.recovering,
    )


def resolved(patient_key: str, episode: Episode, at: datetime, reading_id: str | None, reason: str,
             thresholds: dict[str, float], value: float | None, rule: str) -> Alert:
    """The record that closes an episode, with the value and the hysteresis that allowed it."""
    return Alert(
        alert_id=alert_id_for(patient_key, episode.episode_id, episode.level),
        patient_key=patient_key,
        episode_id=episode.episode_id,
        kind=episode.kind,
        severity=episode.severity,
        state=AlertState.RESOLVED,
        triggered_at=at,
        reading_ids=(reading_id,) if reading_id else episode.reading_ids,
        explanation=Explanation(rule=rule, reason=reason, thresholds=thresholds,
                                values={} if value is None else {"value": value},
                                model_version=RULES_VERSION),
        value_mgdl=value if episode.family in ("low", "high", "fall", "rise") else None,
    )


def acknowledged(patient_key: str, episode: Episode, at: datetime, responder_ref: str, channel: str) -> Alert:
    """The record that says a care-team member took the alert (per alert, not all at once)."""
    return Alert(
        alert_id=alert_id_for(patient_key, episode.episode_id, episode.level),
        patient_key=patient_key,
        episode_id=episode.episode_id,
        kind=episode.kind,
        severity=episode.severity,
        state=AlertState.ACKNOWLEDGED,
        triggered_at=at,
        reading_ids=episode.reading_ids,
        explanation=Explanation(rule="acknowledged", reason=f"Acknowledged by {responder_ref} via {channel}.",
                                model_version=RULES_VERSION),
        recovering=episode.recovering,
    )


def catch_up(patient_key: str, first: datetime, last: datetime, count: int, lowest: float | None,
             highest: float | None, kinds: tuple[str, ...], reading_ids: tuple[str, ...]) -> Alert:
    """One informational record listing what happened while the gateway was offline (no stale alerts)."""
    span = f"{first:%H:%M}-{last:%H:%M} UTC"
    found = ", ".join(kinds) if kinds else "nothing outside the limits"
    rng = "" if lowest is None else f", glucose {lowest:.0f}-{highest or lowest:.0f} mg/dL"
    key = stable_id(patient_key, "catch_up", first.isoformat(), last.isoformat(), str(count))
    return Alert(
        alert_id="a_" + key,
        patient_key=patient_key,
        episode_id="e_" + key,
        kind="catch_up",
        severity=Severity.INFO,
        state=AlertState.RESOLVED,
        triggered_at=last,
        reading_ids=reading_ids,
        explanation=Explanation(
            rule="late_readings_catch_up",
            reason=f"{count} late readings from {span}{rng}: {found}; no live alerts were sent for them.",
            values={k: v for k, v in (("lowest_mgdl", lowest), ("highest_mgdl", highest)) if v is not None}
            | {"late_readings": float(count)},
            model_version=RULES_VERSION,
        ),
        value_mgdl=lowest,
    )
