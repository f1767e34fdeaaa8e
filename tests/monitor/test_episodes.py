"""Every episode transition, table-driven: open, escalate, hold, hysteresis, resolve, ack, snooze, smart snooze."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.episodes import AckMark, Book, Episode, Transition, advance, alert_id_for, renotify_due
from monitor.findings import Finding
from monitor.records import AckAction, AlertState, Severity
from monitor.testing import T0, MonitorHarness, ack, cgm_series, reading

HYST = timedelta(minutes=15)


def finding(level, minute=0, family="low"):
    severity = Severity.URGENT if level.startswith("urgent") else Severity.WARNING
    return Finding(family=family, level=level, kind=level, severity=severity, rule="r", reason="x.",
                   reading_ids=(f"r{minute}",), measured_at=T0 + timedelta(minutes=minute), value=60.0)


def step(book, level, minute, clear=False, family="low", quiet=False):
    f = None if level is None else finding(level, minute, family)
    return advance(book, "p1", family, f, clear, T0 + timedelta(minutes=minute), HYST, quiet=quiet)


@pytest.mark.parametrize(("script", "transitions"), [
    ([("low", 0, False)], ["open"]),
    ([("low", 0, False), ("low", 5, False)], ["open", None]),
    ([("low", 0, False), ("urgent_low", 5, False)], ["open", "escalate"]),
    ([("urgent_low", 0, False), ("low", 5, False)], ["open", None]),  # never de-escalates
    # a worse level of the same severity is a state change of the episode, not a new alert
    ([("predicted_low", 0, False), ("low", 5, False)], ["open", None]),
    ([("urgent_low_soon", 0, False), ("urgent_low", 5, False)], ["open", None]),
    ([("predicted_low", 0, False), ("low", 5, False), ("urgent_low", 10, False)], ["open", None, "escalate"]),
    ([("predicted_low", 0, False), ("low", 5, False), ("predicted_low", 10, False), ("low", 15, False)],
     ["open", None, None, None]),
    ([("low", 0, False), (None, 5, True), (None, 10, True), (None, 20, True)], ["open", None, None, "resolve"]),
    ([("low", 0, False), (None, 5, True), (None, 10, False), (None, 20, True)], ["open", None, None, None]),
    ([("low", 0, False), (None, 5, True), ("low", 10, False), (None, 25, True)], ["open", None, None, None]),
    ([(None, 0, True)], [None]),
    ([("low", 0, True, True)], [None]),  # a catch-up (quiet) reading never opens
])
def test_transitions(script, transitions):
    book, seen = Book(), []
    for item in script:
        level, minute, clear, *quiet = item
        book, transition, _ = step(book, level, minute, clear, quiet=bool(quiet))
        seen.append(None if transition is None else transition.value)
    assert seen == transitions


def test_episode_ids_count_per_family_and_alert_ids_are_deterministic():
    book, _, first = step(Book(), "low", 0)
    book, _, _ = step(book, None, 20, clear=True)
    book, _, _ = step(book, None, 40, clear=True)
    book, t, second = step(book, "low", 60)
    assert t is Transition.OPEN and first.episode_id != second.episode_id
    assert alert_id_for("p1", first.episode_id, "low") == alert_id_for("p1", first.episode_id, "low")
    assert alert_id_for("p1", first.episode_id, "low") != alert_id_for("p1", first.episode_id, "urgent_low")
    _, _, again = step(Book(), "low", 0)
    assert again.episode_id == first.episode_id


def test_same_severity_level_keeps_the_alert_id_and_remembers_the_peak():
    book, _, opened = step(Book(), "predicted_low", 0)
    book, transition, held = step(book, "low", 5)
    assert transition is None and (held.level, held.peak) == ("predicted_low", "low")
    assert held.episode_id == opened.episode_id and held.reading_ids == ("r0", "r5")
    _, transition, worse = step(book, "urgent_low", 10)
    assert transition is Transition.ESCALATE and (worse.level, worse.peak) == ("urgent_low", None)


def test_rate_episode_is_shadowed_by_an_open_low():
    book, _, _ = step(Book(), "low", 0)
    _, transition, _ = step(book, "rapid_fall", 5, family="fall")
    assert transition is None


def _ep(recovering=False):
    return Episode("low", "low", "low", Severity.WARNING, "e1", T0, (), recovering=recovering)


@pytest.mark.parametrize(("marks", "recovering", "minutes", "due"), [
    ((), False, 10, False),
    ((), False, 15, True),
    ((AckMark("a1", AckAction.ACK, T0),), False, 60, False),  # an acknowledgement really stops re-alerts
    ((AckMark("a1", AckAction.SNOOZE, T0, T0 + timedelta(minutes=30)),), False, 20, False),  # snoozed
    ((AckMark("a1", AckAction.SNOOZE, T0, T0 + timedelta(minutes=30)),), False, 31, True),  # snooze over
    ((AckMark("other", AckAction.ACK, T0),), False, 20, True),  # per alert, not all at once
    ((), True, 60, False),  # smart snooze while recovering
])
def test_renotify_due(marks, recovering, minutes, due):
    assert renotify_due(_ep(recovering), "a1", T0, T0 + timedelta(minutes=minutes), timedelta(minutes=15),
                        marks) is due


def test_ack_through_the_engine_emits_acknowledged_once_and_escalation_is_a_new_alert():
    h = MonitorHarness()
    opened = h.feed(reading(65, 0))[0]
    assert [a.state for a in h.acknowledge(ack(opened, T0 + timedelta(minutes=2)))] == [AlertState.ACKNOWLEDGED]
    assert h.acknowledge(ack(opened, T0 + timedelta(minutes=3))) == []
    escalated = h.feed(reading(50, 5))
    assert [(a.kind, a.state) for a in escalated] == [("urgent_low", AlertState.ESCALATED)]
    assert escalated[0].alert_id != opened.alert_id and escalated[0].episode_id == opened.episode_id


def test_snooze_changes_no_clinical_state():
    h = MonitorHarness()
    opened = h.feed(reading(65, 0))[0]
    assert h.acknowledge(ack(opened, T0, snooze_minutes=30)) == []
    assert h.states["p1"].acks[0].until == T0 + timedelta(minutes=30)


def test_recovering_flag_set_while_rising_out_of_a_low():
    h = MonitorHarness()
    h.feed(*cgm_series([60, 58, 57, 62, 68, 74]))
    episode = h.states["p1"].live.get("low")
    assert episode is not None and episode.recovering
