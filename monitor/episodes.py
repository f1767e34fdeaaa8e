"""Pure alert episodes: one alert per episode, escalation on a worse level, resolve with hysteresis."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from monitor.records import Alert, AlertState, Explanation, Reading, Severity, stable_id
from monitor.scoring import Finding

RESOLVE_ABOVE_MGDL: Final = 80.0  # a low resolves only back above 80 (design section 5), so 68-72 never flaps
LEVEL_RANK: Final = {"low": 1, "urgent_low": 2}


@dataclass(frozen=True, slots=True)
class Episode:
    """One open low episode of one patient: its id, current level and the alert it last emitted."""

    episode_id: str
    kind: str
    severity: Severity
    opened_at: datetime
    alert_id: str
    reading_ids: tuple[str, ...]


def alert_id_for(patient_key: str, episode_id: str, level: str) -> str:
    """Deterministic alert id: the same patient, episode and level always give the same id."""
    return "a_" + stable_id(patient_key, episode_id, level)


def _alert(patient_key: str, episode: Episode, state: AlertState, finding: Finding | None, at: datetime,
           value: float | None, reason: str | None = None) -> Alert:
    explanation = Explanation(
        rule=finding.rule if finding else "glucose_back_above_80",
        reason=reason or (finding.reason if finding else ""),
        thresholds=dict(finding.thresholds) if finding else {"resolve_above_mgdl": RESOLVE_ABOVE_MGDL},
        values={} if value is None else {"glucose_mgdl": value},
    )
    return Alert(
        alert_id=episode.alert_id,
        patient_key=patient_key,
        episode_id=episode.episode_id,
        kind=episode.kind,
        severity=episode.severity,
        state=state,
        triggered_at=at,
        reading_ids=episode.reading_ids,
        explanation=explanation,
        value_mgdl=value,
    )


def step(
    patient_key: str, episode: Episode | None, reading: Reading, findings: tuple[Finding, ...]
) -> tuple[Episode | None, list[Alert]]:
    """Advances one patient's low episode by one scored reading and returns the alert records to emit."""
    lows = [f for f in findings if f.kind in LEVEL_RANK]
    worst = max(lows, key=lambda f: LEVEL_RANK[f.kind], default=None)
    if worst is not None:
        if episode is None:
            episode_id = "e_" + stable_id(patient_key, "low", worst.reading_id)
            episode = Episode(episode_id, worst.kind, worst.severity, worst.measured_at,
                              alert_id_for(patient_key, episode_id, worst.kind), (worst.reading_id,))
            return episode, [_alert(patient_key, episode, AlertState.OPEN, worst, worst.measured_at, worst.value_mgdl)]
        if LEVEL_RANK[worst.kind] > LEVEL_RANK[episode.kind]:
            episode = replace(episode, kind=worst.kind, severity=worst.severity,
                              alert_id=alert_id_for(patient_key, episode.episode_id, worst.kind),
                              reading_ids=(*episode.reading_ids, worst.reading_id)[-12:])
            return episode, [_alert(patient_key, episode, AlertState.ESCALATED, worst, worst.measured_at,
                                    worst.value_mgdl)]
        return episode, []
    value = reading.value
    if episode is not None and value is not None and reading.kind.value in ("glucose", "cgm") and value > RESOLVE_ABOVE_MGDL:
        resolved = _alert(patient_key, episode, AlertState.RESOLVED, None, reading.measured_at, value,
                          reason=f"Glucose back to {value:.0f} mg/dL, above {RESOLVE_ABOVE_MGDL:.0f} mg/dL.")
        return None, [resolved]
    return episode, []
