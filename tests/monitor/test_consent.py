"""Consent is checked at event time and now: no grant, a revocation or a gap keeps a reading out of scoring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from monitor.consent import (
    NO_CONSENT,
    Action,
    ConsentEvent,
    ConsentState,
    Scope,
    for_research,
    monitoring_refusal,
    research_cohort,
)
from monitor.records import RecordError

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
KEY = "pk_" + "a" * 32


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def make_state():
    def factory(*changes: tuple[Scope, Action, float], key: str = KEY) -> ConsentState:
        state = ConsentState(key)
        for scope, action, minute in changes:
            state = state.with_event(ConsentEvent(key, scope, action, "v1", at(minute), "nurse-7"))
        return state
    return factory


M, R, S = Scope.MONITORING, Scope.RESEARCH, Scope.SMS_CARE_TEAM
G, X = Action.GRANT, Action.REVOKE


@pytest.mark.parametrize(("changes", "measured", "now", "expected"), [
    ((), 10, 10, NO_CONSENT),                                # never granted
    (((M, G, 0),), 10, 10, None),                            # granted before the reading
    (((M, G, 20),), 10, 30, NO_CONSENT),                     # measured before the grant
    (((M, G, 0), (M, X, 20)), 10, 30, NO_CONSENT),           # late reading after a revocation
    (((M, G, 0), (M, X, 20)), 25, 30, NO_CONSENT),           # measured after the revocation
    (((M, G, 0), (M, X, 20), (M, G, 40)), 30, 50, NO_CONSENT),  # measured inside the gap
    (((M, G, 0), (M, X, 20), (M, G, 40)), 45, 50, None),     # re-granted
    (((R, G, 0), (S, G, 0)), 10, 10, NO_CONSENT),            # other scopes do not allow monitoring
])
def test_monitoring_refusal(make_state, changes, measured, now, expected):
    assert monitoring_refusal(make_state(*changes), at(measured), at(now)) == expected


def test_unknown_patient_is_refused():
    assert monitoring_refusal(None, T0, T0) == NO_CONSENT


def test_events_are_kept_in_time_order_whatever_the_arrival(make_state):
    state = make_state((M, X, 20), (M, G, 0))
    assert [e.action for e in state.events] == [G, X]
    assert state.active(M, at(10)) and not state.active(M, at(21))


def test_json_round_trip_keeps_version_time_and_recorder(make_state):
    state = make_state((M, G, 0), (R, G, 1), (R, X, 2))
    back = ConsentState.from_json(state.to_json())
    assert back == state
    assert back.events[0].text_version == "v1" and back.events[0].recorded_by == "nurse-7"


@pytest.mark.parametrize("raw", [b"", b"[]", b'{"type": "reading"}', b'{"type": "consent", "schema_version": 2}',
                                 b'{"type": "consent", "schema_version": 1, "patient_key": "k", "events": [{}]}'])
def test_bad_consent_bytes_raise_record_error(raw):
    with pytest.raises(RecordError):
        ConsentState.from_json(raw)


@pytest.mark.parametrize("field", ["recorded_by", "text_version"])
def test_a_change_needs_its_recorder_and_text_version(field):
    values = {"patient_key": KEY, "scope": M, "action": G, "text_version": "v1", "at": T0, "recorded_by": "n"}
    values[field] = " "
    with pytest.raises(ValueError):
        ConsentEvent(**values)


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        ConsentEvent(KEY, M, G, "v1", datetime(2026, 1, 1), "n")


@dataclass(frozen=True)
class Row:
    patient_key: str
    value: float


def test_research_replay_keeps_only_research_consented_patients(make_state):
    yes = make_state((M, G, 0), (R, G, 0), key="pk_yes")
    revoked = make_state((M, G, 0), (R, G, 0), (R, X, 5), key="pk_revoked")
    monitoring_only = make_state((M, G, 0), key="pk_mon")
    states = {s.patient_key: s for s in (yes, revoked, monitoring_only)}
    rows = [Row("pk_yes", 1), Row("pk_revoked", 2), Row("pk_mon", 3), Row("pk_unknown", 4), Row("pk_yes", 5)]
    assert list(for_research(rows, states, at(10))) == [Row("pk_yes", 1), Row("pk_yes", 5)]
    assert research_cohort(states.values(), at(10)) == {"pk_yes"}
