"""Consent changes are durable, complete (scope, text version, time, recorder) and published as whole states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.consent import Action, ConsentEvent, ConsentState, Scope
from monitor.consent_feed import ConsentView
from monitor.consent_store import ConsentStore, change, describe, resolve_patient
from monitor.pseudonym import patient_key

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SECRET = b"vigil-test-secret-0123456789"
KEY = patient_key("enrol-900", SECRET)


@pytest.fixture
def store(tmp_path):
    return ConsentStore(tmp_path / "consent.sqlite")


@pytest.fixture
def published():
    sent: list[tuple[str, bytes | None]] = []
    return sent


def event(action: Action, minute: int, scope: Scope = Scope.MONITORING, key: str = KEY) -> ConsentEvent:
    return ConsentEvent(key, scope, action, "v2", T0 + timedelta(minutes=minute), "nurse-7")


def test_history_survives_reopening_and_keeps_every_field(store, tmp_path):
    store.record(event(Action.GRANT, 0))
    store.record(event(Action.REVOKE, 10))
    again = ConsentStore(tmp_path / "consent.sqlite").state(KEY)
    assert [(e.action, e.at, e.text_version, e.recorded_by) for e in again.events] == [
        (Action.GRANT, T0, "v2", "nurse-7"), (Action.REVOKE, T0 + timedelta(minutes=10), "v2", "nurse-7")]


def test_change_publishes_the_whole_state_keyed_by_pseudonym(store, published):
    change(store, lambda k, v: published.append((k, v)), event(Action.GRANT, 0))
    change(store, lambda k, v: published.append((k, v)), event(Action.GRANT, 1, Scope.RESEARCH))
    assert [k for k, _ in published] == [KEY, KEY]
    last = ConsentState.from_json(published[-1][1])
    assert last.active(Scope.MONITORING, T0 + timedelta(minutes=2))
    assert last.active(Scope.RESEARCH, T0 + timedelta(minutes=2))


def test_erase_removes_only_that_patient(store):
    other = patient_key("enrol-901", SECRET)
    store.record(event(Action.GRANT, 0))
    store.record(event(Action.GRANT, 0, key=other))
    assert store.erase(KEY) == 1
    assert store.state(KEY).events == ()
    assert store.patients() == [other]


def test_enrolment_ids_become_pseudonyms_and_pseudonyms_pass_through():
    assert resolve_patient("enrol-900", SECRET) == KEY
    assert resolve_patient(KEY, SECRET) == KEY


def test_show_names_every_scope(store):
    state = store.record(event(Action.GRANT, 0))
    text = describe(state, T0 + timedelta(minutes=1))
    assert "monitoring     ACTIVE" in text and "research       never granted" in text
    assert "enrol-900" not in text


def test_view_applies_states_and_tombstones():
    view = ConsentView("127.0.0.1:1")
    state = ConsentState(KEY).with_event(event(Action.GRANT, 0))
    view.apply(KEY.encode(), state.to_json())
    assert view.get(KEY) == state
    view.apply(KEY.encode(), b"garbage")      # unreadable records never replace a good state
    assert view.get(KEY) == state
    view.apply(KEY.encode(), None)            # erasure tombstone
    assert view.get(KEY) is None
