"""The worker's gate fails closed: no consent state loaded means no scoring, and a loaded state is obeyed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.consent import NO_CONSENT, Action, ConsentEvent, ConsentState, Scope
from monitor.consent_feed import CONSENT_UNAVAILABLE, ConsentGate, ConsentView
from monitor.records import Reading, ReadingKind, Source, reading_id_for

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
KEY = "pk_" + "b" * 32


def reading(minute: int = 0) -> Reading:
    at = T0 + timedelta(minutes=minute)
    return Reading(reading_id=reading_id_for("d", "cgm", minute, at), patient_key=KEY, device_id="d",
                   kind=ReadingKind.CGM, value=100.0, unit="mg/dL", measured_at=at, received_at=at,
                   source=Source.BLE, sequence=minute)


@pytest.fixture
def loaded_view():
    view = ConsentView("127.0.0.1:1")
    view.start = lambda: view  # type: ignore[method-assign]  - no broker in a unit test
    view.ready.set()
    return view


async def test_no_loaded_state_means_refusal_and_only_one_long_wait():
    view = ConsentView("127.0.0.1:1")
    view.start = lambda: view  # type: ignore[method-assign]
    gate = ConsentGate(view, ready_timeout_s=0.05)
    assert await gate.refusal(reading(), T0) == CONSENT_UNAVAILABLE
    assert await gate.refusal(reading(1), T0) == CONSENT_UNAVAILABLE


async def test_loaded_states_are_obeyed_including_tombstones(loaded_view):
    gate = ConsentGate(loaded_view)
    assert await gate.refusal(reading(), T0) == NO_CONSENT
    state = ConsentState(KEY).with_event(ConsentEvent(KEY, Scope.MONITORING, Action.GRANT, "v1",
                                                      T0 - timedelta(hours=1), "nurse"))
    loaded_view.apply(KEY.encode(), state.to_json())
    assert await gate.refusal(reading(), T0) is None
    loaded_view.apply(KEY.encode(), None)
    assert await gate.refusal(reading(), T0) == NO_CONSENT


async def test_the_batch_workers_check_fails_closed_until_the_view_is_loaded():
    view = ConsentView("127.0.0.1:1")
    view.start = lambda: view  # type: ignore[method-assign]
    gate = ConsentGate(view, ready_timeout_s=0.05)
    assert gate.check(reading(), T0) == CONSENT_UNAVAILABLE
    assert await gate.wait_ready() is False
    view.ready.set()
    assert await gate.wait_ready() is True
    assert gate.check(reading(), T0) == NO_CONSENT


def test_monitored_means_monitoring_consent_holds_now_and_fails_closed(loaded_view):
    unloaded = ConsentView("127.0.0.1:1")
    assert ConsentGate(unloaded).monitored(KEY, T0) is False
    gate = ConsentGate(loaded_view)
    assert gate.monitored(KEY, T0) is False  # never granted
    granted = ConsentState(KEY).with_event(ConsentEvent(KEY, Scope.MONITORING, Action.GRANT, "v1",
                                                        T0 - timedelta(hours=1), "nurse"))
    loaded_view.apply(KEY.encode(), granted.to_json())
    assert gate.monitored(KEY, T0) is True
    revoked = granted.with_event(ConsentEvent(KEY, Scope.MONITORING, Action.REVOKE, "v1", T0, "nurse"))
    loaded_view.apply(KEY.encode(), revoked.to_json())
    assert gate.monitored(KEY, T0 - timedelta(minutes=1)) is True and gate.monitored(KEY, T0) is False
    loaded_view.apply(KEY.encode(), None)  # erased
    assert gate.monitored(KEY, T0 - timedelta(minutes=1)) is False
