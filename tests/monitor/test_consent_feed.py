"""The worker's gate fails closed: no consent state loaded means no scoring, and a loaded state is obeyed."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from monitor.consent import NO_CONSENT, Action, ConsentEvent, ConsentState, Scope
from monitor.consent_feed import CONSENT_STALE, CONSENT_UNAVAILABLE, RETRY_FIRST_S, ConsentGate, ConsentView
from monitor.records import Reading, ReadingKind, Source, reading_id_for

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
KEY = "pk_" + "b" * 32


def reading(minute: int = 0) -> Reading:
    at = T0 + timedelta(minutes=minute)
    return Reading(reading_id=reading_id_for("d", "cgm", minute, at), patient_key=KEY, device_id="d",
                   kind=ReadingKind.CGM, value=100.0, unit="mg/dL", measured_at=at, received_at=at,
                   source=Source.BLE, sequence=minute)


class FakeMonotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeMonotonic()


@pytest.fixture
def loaded_view(clock):
    view = ConsentView("127.0.0.1:1", monotonic=clock)
    view.start = lambda: view  # type: ignore[method-assign]  - no broker in a unit test
    view.confirmed(clock.now)
    return view


def granted_at(at: datetime) -> ConsentState:
    return ConsentState(KEY).with_event(ConsentEvent(KEY, Scope.MONITORING, Action.GRANT, "v1", at, "nurse"))


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
    view.monotonic = lambda: 0.0
    gate = ConsentGate(view, ready_timeout_s=0.05)
    assert gate.check(reading(), T0) == CONSENT_UNAVAILABLE
    assert await gate.wait_ready() is False
    view.confirmed(0.0)
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


def test_the_view_counts_its_age_from_the_latest_moment_it_was_confirmed_up_to(clock):
    view = ConsentView("127.0.0.1:1", monotonic=clock)
    assert view.age_s() is None and not view.ready.is_set()
    view.confirmed(clock.now - 3)
    assert view.ready.is_set() and view.age_s() == 3
    view.confirmed(clock.now - 10)  # an older round finishing late never makes the view look younger
    assert view.age_s() == 3
    clock.now += 7
    assert view.age_s() == 10


def test_a_stale_view_gets_one_short_chance_then_refuses_at_once_for_a_while(loaded_view, clock):
    gate = ConsentGate(loaded_view, max_age_s=30, confirm_wait_s=0.01)
    loaded_view.apply(KEY.encode(), granted_at(T0 - timedelta(hours=1)).to_json())
    asked: list[float] = []

    def no_answer(timeout_s: float) -> bool:
        asked.append(timeout_s)
        return False

    loaded_view.confirm = no_answer  # type: ignore[method-assign]  - the reader thread is stuck
    clock.now += 30
    assert gate.check(reading(), T0) is None and asked == []  # 30 s old is still current
    clock.now += 1
    assert gate.check(reading(), T0) == CONSENT_STALE and asked == [0.01]
    assert gate.check(reading(1), T0) == CONSENT_STALE
    assert gate.monitored(KEY, T0) is True  # what it knows: a stale view must not make the worker forget states
    assert asked == [0.01]  # no second wait within confirm_every_s
    clock.now += loaded_view.confirm_every_s
    assert gate.check(reading(2), T0) == CONSENT_STALE and asked == [0.01, 0.01]


def test_a_stale_view_that_confirms_in_its_chance_is_obeyed(loaded_view, clock):
    gate = ConsentGate(loaded_view, max_age_s=30)
    loaded_view.apply(KEY.encode(), granted_at(T0 - timedelta(hours=1)).to_json())
    clock.now += 600  # e.g. the process was paused

    def answers(timeout_s: float) -> bool:
        loaded_view.confirmed(clock.now)
        return True

    loaded_view.confirm = answers  # type: ignore[method-assign]
    assert gate.check(reading(), T0) is None and gate.monitored(KEY, T0) is True


def test_confirm_asks_the_reader_thread_and_returns_when_it_confirms(clock):
    view = ConsentView("127.0.0.1:1", monotonic=clock)
    assert view.confirm(0.01) is False
    helper = threading.Timer(0.05, lambda: view.confirmed(clock.now))
    helper.start()
    assert view.confirm(5.0) is True and view.age_s() == 0
    helper.join()


def test_the_reader_retries_a_lost_topic_with_backoff_and_keeps_its_states(loaded_view, monkeypatch, caplog):
    loaded_view.apply(KEY.encode(), granted_at(T0).to_json())
    waits: list[float] = []
    attempts = iter([ConnectionError("broker gone"), ConnectionError("still gone"), None])

    def follow() -> None:
        failure = next(attempts)
        if failure is None:
            loaded_view.confirmed(loaded_view.monotonic())
            loaded_view._stop.set()
            return
        raise failure

    monkeypatch.setattr(loaded_view, "_follow", follow)
    monkeypatch.setattr(loaded_view._stop, "wait", waits.append)
    with caplog.at_level(logging.ERROR, logger="monitor.consent_feed"):
        loaded_view._run()
    assert waits == [RETRY_FIRST_S, 2 * RETRY_FIRST_S]
    assert "ConnectionError" in caplog.text and "last confirmed 0 s ago" in caplog.text
    assert loaded_view.get(KEY) == granted_at(T0) and loaded_view.error is None


def test_a_change_after_loading_is_logged_with_the_pseudonym_only(loaded_view, caplog):
    revoked = granted_at(T0).with_event(ConsentEvent(KEY, Scope.MONITORING, Action.REVOKE, "v1",
                                                     T0 + timedelta(hours=1), "nurse"))
    with caplog.at_level(logging.INFO, logger="monitor.consent_feed"):
        loaded_view.apply(KEY.encode(), revoked.to_json())
        loaded_view.apply(KEY.encode(), None)
    assert [r.getMessage() for r in caplog.records] == [f"consent update applied: {KEY} monitoring revoke",
                                                        f"consent update applied: {KEY} erased"]
