"""Notification policy: first send, escalation chain, re-notify, acks, snoozes, smart snooze, failures."""

from __future__ import annotations

from datetime import datetime

import pytest

from monitor.notifier import (
    Escalation,
    OnDuty,
    Policy,
    Reason,
    Send,
    Track,
    Unreachable,
    on_ack,
    on_alert,
    on_delivery_failure,
    on_superseded,
    on_tick,
    track_from_dict,
    track_to_dict,
)
from monitor.records import AckAction, AlertState
from tests.monitor.notify_factories import T0, make_ack, make_alert, mins

DUTY = OnDuty("nurse-a", "nurse-b", "lead-c")
POLICY = Policy()


def sends(actions: list) -> list[tuple[str, int, Reason]]:
    return [(a.recipient, a.attempt, a.reason) for a in actions if isinstance(a, Send)]


def started(kind: str = "urgent_low", duty: OnDuty = DUTY, **kw) -> Track:
    track, _ = on_alert(None, make_alert(kind, **kw), duty, "4821", T0)
    assert track is not None
    return track


def run(track: Track, minutes: list[float]) -> list[tuple[str, int, Reason]]:
    out = []
    for m in minutes:
        track, actions = on_tick(track, T0 + mins(m), POLICY)
        out.extend(sends(actions))
    return out


@pytest.mark.parametrize(("duty", "expected"), [
    (DUTY, [("nurse-a", 1, Reason.INITIAL)]),
    (OnDuty(None, "nurse-b", "lead-c"), [("nurse-b", 1, Reason.INITIAL)]),
    (OnDuty(None, None, "lead-c"), [("lead-c", 1, Reason.INITIAL)]),
])
def test_first_send_goes_to_the_first_member_on_duty(duty: OnDuty, expected: list) -> None:
    _, actions = on_alert(None, make_alert(), duty, "4821", T0)
    assert sends(actions) == expected


def test_nobody_on_duty_is_reported_not_silently_dropped() -> None:
    track, actions = on_alert(None, make_alert(), OnDuty(), "4821", T0)
    assert track is not None and track.exhausted and isinstance(actions[0], Unreachable)


@pytest.mark.parametrize(("kind", "minutes", "expected"), [
    # urgent: escalates every N=10 minutes up the chain, then re-notifies the lead every 10
    ("urgent_low", [5, 9.9], []),
    ("urgent_low", [10], [("nurse-b", 2, Reason.ESCALATION)]),
    ("urgent_low", [10, 15, 20], [("nurse-b", 2, Reason.ESCALATION), ("lead-c", 3, Reason.ESCALATION)]),
    ("urgent_low", [10, 20, 30], [("nurse-b", 2, Reason.ESCALATION), ("lead-c", 3, Reason.ESCALATION),
                                  ("lead-c", 4, Reason.RENOTIFY)]),
    # not urgent: re-notifies the primary after M=15 minutes, never escalates
    ("low", [10, 14], []),
    ("low", [15, 30], [("nurse-a", 2, Reason.RENOTIFY), ("nurse-a", 3, Reason.RENOTIFY)]),
])
def test_unanswered_alerts(kind: str, minutes: list[float], expected: list) -> None:
    assert run(started(kind), minutes) == expected


def test_escalation_emits_an_audit_action() -> None:
    _, actions = on_tick(started(), T0 + mins(10), POLICY)
    esc = [a for a in actions if isinstance(a, Escalation)]
    assert esc and (esc[0].from_role, esc[0].to_role, esc[0].reason) == ("primary", "backup", Reason.ESCALATION)


def test_same_member_in_two_roles_is_skipped() -> None:
    track = started(duty=OnDuty("nurse-a", "nurse-a", "lead-c"))
    assert run(track, [10]) == [("lead-c", 2, Reason.ESCALATION)]


@pytest.mark.parametrize(("ack_at", "expected"), [
    (1, []),
    (11, [("nurse-b", 2, Reason.ESCALATION)]),  # escalated at 10 before the ack at 11; nothing afterwards
])
def test_ack_stops_all_further_alerts(ack_at: float, expected: list) -> None:
    track = started()
    out = []
    for m in range(1, 60):
        if m == ack_at:
            track = on_ack(track, make_ack(at=T0 + mins(m)))
        track, actions = on_tick(track, T0 + mins(m), POLICY)
        out.extend(sends(actions))
    assert out == expected
    assert track.acked_by == "nurse-a"


@pytest.mark.parametrize(("snooze", "first_after"), [(30, 31), (5, 10), (45, 46)])
def test_snooze_is_honoured(snooze: int, first_after: int) -> None:
    track = started()
    track = on_ack(track, make_ack(AckAction.SNOOZE, minutes=snooze, at=T0 + mins(1)))
    first = None
    for m in range(2, 90):
        track, actions = on_tick(track, T0 + mins(m), POLICY)
        if sends(actions):
            first = m
            break
    assert first == first_after


def test_recovering_flag_suppresses_re_alerts_until_cleared() -> None:
    track = started()
    track, _ = on_alert(track, make_alert(recovering=True), DUTY, "4821", T0 + mins(2))
    assert run(track, [10, 20]) == []
    track, _ = on_alert(track, make_alert(recovering=False), DUTY, "4821", T0 + mins(21))
    assert run(track, [22]) == [("nurse-b", 2, Reason.ESCALATION)]


def test_repeated_alert_record_does_not_resend() -> None:
    track = started()
    track2, actions = on_alert(track, make_alert(), DUTY, "4821", T0 + mins(1))
    assert actions == [] and track2.attempt == 1


def test_resolved_tells_the_notified_members_once_and_stops() -> None:
    track = started()
    track, _ = on_tick(track, T0 + mins(10), POLICY)
    resolved = make_alert(state=AlertState.RESOLVED, value=95.0)
    track, actions = on_alert(track, resolved, DUTY, "4821", T0 + mins(12))
    assert sends(actions) == [("nurse-a", 3, Reason.RESOLVED), ("nurse-b", 4, Reason.RESOLVED)]
    assert all(a.message == "resolved" for a in actions if isinstance(a, Send))
    _, again = on_alert(track, resolved, DUTY, "4821", T0 + mins(13))
    assert again == [] and run(track, [30, 60]) == []


def test_resolved_of_an_unknown_alert_sends_nothing() -> None:
    assert on_alert(None, make_alert(state=AlertState.RESOLVED), DUTY, "4821", T0) == (None, [])


@pytest.mark.parametrize(("recipient", "permanent", "expected"), [
    ("nurse-a", False, [("nurse-b", 2, Reason.UNDELIVERED)]),
    ("nurse-a", True, [("nurse-b", 2, Reason.PERMANENT_ERROR)]),
    ("someone-else", False, []),
])
def test_delivery_failure_to_the_current_recipient_escalates_at_once(recipient: str, permanent: bool,
                                                                      expected: list) -> None:
    _, actions = on_delivery_failure(started(), recipient, permanent, T0 + mins(1))
    assert sends(actions) == expected


def test_failure_at_the_end_of_the_chain_is_unreachable() -> None:
    track = started(duty=OnDuty("nurse-a", None, None))
    track, actions = on_delivery_failure(track, "nurse-a", True, T0 + mins(1))
    assert track.exhausted and isinstance(actions[0], Unreachable)


def test_attempts_are_bounded() -> None:
    track = started("low")
    total = []
    for m in range(15, 15 * 20, 15):
        track, actions = on_tick(track, T0 + mins(m), POLICY)
        total.extend(actions)
    assert len([a for a in total if isinstance(a, Send)]) == POLICY.max_attempts - 1
    assert track.exhausted and isinstance(total[-1], Unreachable)


def test_idempotency_keys_are_unique_per_attempt() -> None:
    track = started()
    keys = {f"{track.alert.alert_id}:nurse-a:1"}
    for m in (10, 20, 30, 40):
        track, actions = on_tick(track, T0 + mins(m), POLICY)
        keys.update(a.key for a in actions if isinstance(a, Send))
    assert len(keys) == 5


def test_track_round_trips_through_json() -> None:
    track = on_ack(started(), make_ack(AckAction.SNOOZE, minutes=30, at=T0 + mins(1)))
    assert track_from_dict(track_to_dict(track)) == track


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        on_tick(started(), datetime(2026, 3, 1, 4, 0), POLICY)


@pytest.mark.parametrize(("newer", "superseded"), [
    (dict(alert_id="a_2", kind="urgent_low"), True),     # same episode, worse level: the low stops re-alerting
    (dict(alert_id="a_1", kind="low"), False),           # the same alert again
    (dict(alert_id="a_3", kind="urgent_low", patient_key="pk_" + "b" * 32), False),  # another patient
])
def test_a_worse_level_of_the_same_episode_supersedes(newer: dict, superseded: bool) -> None:
    track = started("low")
    result = on_superseded(track, make_alert(**newer))
    assert (result is not None) is superseded
    if result is not None:
        assert result.done and run(result, [15, 30]) == []
