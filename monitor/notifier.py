"""Pure notification policy: who is told, re-notify, escalate primary -> backup -> lead, honour acks and snoozes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from monitor.records import Ack, AckAction, Alert, AlertState, Severity, utc

ROLES: Final = ("primary", "backup", "lead")


@dataclass(frozen=True, slots=True)
class Policy:
    """Timings of delivery: escalation for urgent alerts after N minutes, re-notification after M minutes."""

    escalate_after: timedelta = timedelta(minutes=10)
    renotify_after: timedelta = timedelta(minutes=15)
    max_attempts: int = 8
    notify_resolved: bool = True


@dataclass(frozen=True, slots=True)
class OnDuty:
    """The members (ids from the roster) covering one patient when the alert opened."""

    primary: str | None = None
    backup: str | None = None
    lead: str | None = None

    def member(self, role: str) -> str | None:
        return {"primary": self.primary, "backup": self.backup, "lead": self.lead}[role]


class Reason(StrEnum):
    INITIAL = "initial"
    RENOTIFY = "renotify"
    ESCALATION = "escalation"
    UNDELIVERED = "undelivered"
    PERMANENT_ERROR = "permanent_error"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Send:
    """One text to send; (alert_id, recipient, attempt) is its idempotency key."""

    alert_id: str
    patient_key: str
    recipient: str
    role: str
    attempt: int
    reason: Reason
    message: str = "alert"  # alert | resolved

    @property
    def key(self) -> str:
        return f"{self.alert_id}:{self.recipient}:{self.attempt}"


@dataclass(frozen=True, slots=True)
class Escalation:
    """The alert moved up the chain: for the audit log and the notifications topic."""

    alert_id: str
    patient_key: str
    from_role: str
    to_role: str
    reason: Reason
    at: datetime


@dataclass(frozen=True, slots=True)
class Unreachable:
    """Nobody is left to tell: the chain is exhausted (audited loudly, for the operator)."""

    alert_id: str
    patient_key: str
    reason: str
    at: datetime


Action = Send | Escalation | Unreachable


@dataclass(frozen=True, slots=True)
class Track:
    """Delivery state of one alert: the latest alert record, who was told, and whether anyone answered."""

    alert: Alert
    code: str
    duty: OnDuty
    level: int
    attempt: int
    last_sent_at: datetime
    notified: tuple[str, ...] = ()
    acked_by: str | None = None
    acked_at: datetime | None = None
    snoozed_until: datetime | None = None
    resolved: bool = False
    exhausted: bool = False

    @property
    def urgent(self) -> bool:
        return self.alert.severity is Severity.URGENT

    @property
    def done(self) -> bool:
        return self.resolved or self.acked_by is not None

    @property
    def current_role(self) -> str:
        return ROLES[self.level]


def _next_level(duty: OnDuty, level: int) -> int | None:
    """The next role up the chain with a member not already the current recipient."""
    current = duty.member(ROLES[level]) if level < len(ROLES) else None
    for nxt in range(level + 1, len(ROLES)):
        member = duty.member(ROLES[nxt])
        if member is not None and member != current:
            return nxt
    return None


def _first_level(duty: OnDuty) -> int | None:
    for level, role in enumerate(ROLES):
        if duty.member(role) is not None:
            return level
    return None


def _send(track: Track, level: int, reason: Reason, now: datetime) -> tuple[Track, Send]:
    member = track.duty.member(ROLES[level])
    assert member is not None
    attempt = track.attempt + 1
    notified = track.notified if member in track.notified else (*track.notified, member)
    track = replace(track, level=level, attempt=attempt, last_sent_at=now, notified=notified)
    return track, Send(track.alert.alert_id, track.alert.patient_key, member, ROLES[level], attempt, reason)


def on_alert(track: Track | None, alert: Alert, duty: OnDuty, code: str, now: datetime, *,
             policy: Policy = Policy()) -> tuple[Track | None, list[Action]]:
    """A record from the alerts topic: a new alert is sent to the first on-duty member; repeats change nothing."""
    now = utc(now)
    if track is None:
        if alert.state in (AlertState.RESOLVED, AlertState.ACKNOWLEDGED):
            return None, []
        level = _first_level(duty)
        track = Track(alert=alert, code=code, duty=duty, level=level or 0, attempt=0, last_sent_at=now)
        if level is None:
            return replace(track, exhausted=True), [Unreachable(alert.alert_id, alert.patient_key,
                                                                 "no care-team member on duty", now)]
        track, send = _send(track, level, Reason.INITIAL, now)
        return track, [send]
    if alert.state is AlertState.RESOLVED:
        if track.resolved:
            return track, []
        track = replace(track, alert=alert, resolved=True)
        actions: list[Action] = []
        if policy.notify_resolved and track.acked_by is None:
            for member in track.notified:
                attempt = track.attempt + 1
                track = replace(track, attempt=attempt)
                role = next((r for r in ROLES if duty_member_is(track.duty, r, member)), "primary")
                actions.append(Send(alert.alert_id, alert.patient_key, member, role, attempt, Reason.RESOLVED,
                                    message="resolved"))
        return track, actions
    # A repeat (replay, or the same episode re-emitted): keep delivery state, take the latest smart-snooze flag.
    return replace(track, alert=replace(track.alert, recovering=alert.recovering)), []


def on_superseded(track: Track, alert: Alert) -> Track | None:
    """A newer alert of the same episode (a worse level) takes over: the older one stops re-alerting, silently."""
    if (alert.alert_id == track.alert.alert_id or alert.episode_id != track.alert.episode_id
            or alert.patient_key != track.alert.patient_key or track.done):
        return None
    return replace(track, resolved=True)


def duty_member_is(duty: OnDuty, role: str, member: str) -> bool:
    return duty.member(role) == member


def on_ack(track: Track, ack: Ack) -> Track:
    """An ACK stops all further re-alerts of this alert; a SNOOZE pauses them until it expires."""
    if ack.action is AckAction.ACK:
        if track.acked_by is not None:
            return track
        return replace(track, acked_by=ack.responder_ref, acked_at=ack.at)
    minutes = ack.snooze_minutes or 0
    return replace(track, snoozed_until=utc(ack.at) + timedelta(minutes=minutes))


def _due(track: Track, policy: Policy) -> datetime:
    wait = policy.escalate_after if track.urgent else policy.renotify_after
    due = track.last_sent_at + wait
    if track.snoozed_until is not None:
        due = max(due, track.snoozed_until)
    return due


def on_tick(track: Track, now: datetime, policy: Policy = Policy()) -> tuple[Track, list[Action]]:
    """Time passed: unanswered alerts re-notify (M) or, when urgent, escalate (N) up the chain."""
    now = utc(now)
    if track.done or track.exhausted or track.alert.recovering:
        return track, []
    if track.snoozed_until is not None and now < track.snoozed_until:
        return track, []
    if now < _due(track, policy):
        return track, []
    if track.attempt >= policy.max_attempts:
        return replace(track, exhausted=True), [Unreachable(track.alert.alert_id, track.alert.patient_key,
                                                            f"no answer after {track.attempt} attempts", now)]
    if track.urgent:
        nxt = _next_level(track.duty, track.level)
        if nxt is not None:
            return _escalate(track, nxt, Reason.ESCALATION, now)
    track, send = _send(track, track.level, Reason.RENOTIFY, now)
    return track, [send]


def _escalate(track: Track, level: int, reason: Reason, now: datetime) -> tuple[Track, list[Action]]:
    escalation = Escalation(track.alert.alert_id, track.alert.patient_key, track.current_role, ROLES[level],
                            reason, now)
    track, send = _send(track, level, reason, now)
    return track, [escalation, send]


def on_delivery_failure(track: Track, recipient: str, permanent: bool, now: datetime) -> tuple[Track, list[Action]]:
    """An undelivered text (or a permanent error) to the current recipient goes up the chain at once."""
    now = utc(now)
    if track.done or track.duty.member(track.current_role) != recipient:
        return track, []
    reason = Reason.PERMANENT_ERROR if permanent else Reason.UNDELIVERED
    nxt = _next_level(track.duty, track.level)
    if nxt is None:
        return replace(track, exhausted=True), [Unreachable(track.alert.alert_id, track.alert.patient_key,
                                                            f"{reason.value} to the last member of the chain", now)]
    return _escalate(track, nxt, reason, now)


def track_to_dict(track: Track) -> dict[str, object]:
    """Delivery state as JSON-able data, so the service persists it beside its send ledger."""
    def iso(ts: datetime | None) -> str | None:
        return None if ts is None else ts.isoformat()
    return {
        "alert": track.alert.to_dict(), "code": track.code,
        "duty": [track.duty.primary, track.duty.backup, track.duty.lead],
        "level": track.level, "attempt": track.attempt, "last_sent_at": iso(track.last_sent_at),
        "notified": list(track.notified), "acked_by": track.acked_by, "acked_at": iso(track.acked_at),
        "snoozed_until": iso(track.snoozed_until), "resolved": track.resolved, "exhausted": track.exhausted,
    }


def track_from_dict(d: dict[str, Any]) -> Track:
    def ts(value: Any) -> datetime | None:
        return None if value is None else utc(datetime.fromisoformat(value))
    primary, backup, lead = d["duty"]
    last = ts(d["last_sent_at"])
    assert last is not None
    return Track(alert=Alert.from_dict(d["alert"]), code=d["code"], duty=OnDuty(primary, backup, lead),
                 level=int(d["level"]), attempt=int(d["attempt"]), last_sent_at=last,
                 notified=tuple(d["notified"]), acked_by=d["acked_by"], acked_at=ts(d["acked_at"]),
                 snoozed_until=ts(d["snoozed_until"]), resolved=bool(d["resolved"]), exhausted=bool(d["exhausted"]))
