"""The whole per-patient pipeline as one pure function: validate, score, advance episodes, emit alerts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from monitor import state_codec
from monitor.episodes import Episode, step
from monitor.records import Alert, Reading
from monitor.scoring import PatientState, new_state, score


@dataclass(frozen=True, slots=True)
class MonitorState:
    """What the worker keeps per patient in its changelog-backed table."""

    scoring: PatientState
    episode: Episode | None = None
    alerts_emitted: tuple[str, ...] = field(default=())


def initial(patient_key: str) -> MonitorState:
    return MonitorState(scoring=new_state(patient_key))


def process_reading(state: MonitorState | None, reading: Reading, now: datetime) -> tuple[MonitorState, list[Alert]]:
    """Runs one reading through scoring and episodes; the same inputs always give the same alerts."""
    state = state or initial(reading.patient_key)
    scoring, findings = score(state.scoring, reading, now)
    if scoring.duplicates != state.scoring.duplicates:
        return replace(state, scoring=scoring), []
    episode, alerts = step(reading.patient_key, state.episode, reading, findings)
    emitted = (*state.alerts_emitted, *(a.record_key for a in alerts))[-32:]
    return MonitorState(scoring=scoring, episode=episode, alerts_emitted=emitted), alerts


def dump_state(state: MonitorState) -> bytes:
    return state_codec.dumps(state)


def load_state(raw: bytes | None) -> MonitorState | None:
    return None if raw is None else state_codec.loads(raw, MonitorState)
