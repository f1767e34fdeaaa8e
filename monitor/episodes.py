"""Pure alert episodes: open -> escalated -> acknowledged -> resolved, with hysteresis, snooze and smart snooze."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from operator import attrgetter
from typing import Final

from monitor.findings import Finding, rank
from monitor.frozen import Frozen, quick_init, replace
from monitor.records import AckAction, Severity, stable_id

READING_IDS_KEPT: Final = 4
# Rate-of-change episodes add nothing while a glucose level episode is open: either it was already
# alerted (falling in a low) or it is the recovery (rising out of a low) - alert fatigue otherwise.
SHADOWED_BY: Final = {"fall": ("low", "high"), "rise": ("low", "high")}


class Transition(StrEnum):
    OPEN = "open"
    ESCALATE = "escalate"
    RESOLVE = "resolve"


@quick_init
@dataclass(frozen=True, slots=True)
class Episode(Frozen):
    """One open episode of one alert family for one patient."""

    family: str
    level: str
    kind: str
    severity: Severity
    episode_id: str
    opened_at: datetime
    reading_ids: tuple[str, ...]
    clear_since: datetime | None = None  # first "back to normal" reading of the current clear run
    # Smart snooze: glucose clearly heading back to range. Carried on open, escalate and acknowledge records only.
    # A record per change would reuse an (alert_id, state) key that identifies a record in the v1 contract (the
    # engine, recorder and evaluation de-duplicate or count by it); it needs a contract change (see report, issue 4).
    recovering: bool = False
    peak: str | None = None  # a worse level of the same severity, reached without a new alert (see advance)


@quick_init
@dataclass(frozen=True, slots=True)
class Book(Frozen):
    """All open episodes of one patient and how many each family has had (for deterministic ids)."""

    open: tuple[Episode, ...] = ()
    counts: tuple[tuple[str, int], ...] = ()

    def get(self, family: str) -> Episode | None:
        return next((e for e in self.open if e.family == family), None)

    def count(self, family: str) -> int:
        return dict(self.counts).get(family, 0)


def episode_id_for(patient_key: str, family: str, number: int) -> str:
    """The n-th episode of a family for a patient: the same under replay, restart or reordering."""
    return "e_" + stable_id(patient_key, family, str(number))


def alert_id_for(patient_key: str, episode_id: str, level: str) -> str:
    """Deterministic alert id from (patient, episode, level): a replay emits the same id, consumers de-duplicate."""
    return "a_" + stable_id(patient_key, episode_id, level)


SEVERITY_RANK: Final = {Severity.INFO: 0, Severity.WARNING: 1, Severity.URGENT: 2}


def worst_rank(episode: Episode) -> int:
    """The worst level this episode has reached, alerted or not."""
    return max(rank(episode.family, episode.level), rank(episode.family, episode.peak or ""))


def _kept(episode: Episode, recovering: bool) -> Episode:
    """The episode going on, not clearing: the same object when nothing changed (most readings of an episode)."""
    if episode.clear_since is None and episode.recovering == recovering:
        return episode
    return replace(episode, clear_since=None, recovering=recovering)


def _put(book: Book, episode: Episode | None, family: str, opened: bool = False) -> Book:
    """The book with `family`'s episode replaced (or closed). Open episodes are kept in family order, so the
    readings of two kinds that share no family give the same book in either order (engine._commutes)."""
    others = tuple(e for e in book.open if e.family != family)
    counts = dict(book.counts)
    if opened:
        counts[family] = counts.get(family, 0) + 1
    episodes = (*others, episode) if episode else others
    if episode and others:
        episodes = tuple(sorted(episodes, key=attrgetter("family")))
    return Book(open=episodes, counts=tuple(sorted(counts.items())))


def advance(book: Book, patient_key: str, family: str, finding: Finding | None, clear: bool, at: datetime,
            resolve_after: timedelta, *, recovering: bool = False, quiet: bool = False
            ) -> tuple[Book, Transition | None, Episode | None]:
    """Moves one family's episode by one scored reading; returns (book, what happened, the episode concerned).

    An episode escalates (a new alert record, a new alert id) only when its severity rises; a worse level of
    the same severity is remembered in `peak` and the alert id stays that of the last alerted level.

    quiet: a catch-up reading (backfill) may keep or resolve an episode but never opens or escalates one.
    """
    episode = book.get(family)
    if finding is not None:
        if episode is None:
            if quiet or any(book.get(shadow) is not None for shadow in SHADOWED_BY.get(family, ())):
                return book, None, None
            number = book.count(family) + 1
            episode = Episode(family, finding.level, finding.kind, finding.severity,
                              episode_id_for(patient_key, family, number), finding.measured_at,
                              finding.reading_ids[-READING_IDS_KEPT:], recovering=recovering)
            return _put(book, episode, family, opened=True), Transition.OPEN, episode
        ids = (*episode.reading_ids, *(i for i in finding.reading_ids if i not in episode.reading_ids))
        if not quiet and rank(family, finding.level) > worst_rank(episode):
            if SEVERITY_RANK[finding.severity] <= SEVERITY_RANK[episode.severity]:
                # predicted_low -> low, urgent_low_soon -> urgent_low: the same episode at the same severity;
                # the care team was already told, so this is a state change, not a new alert (alert fatigue)
                episode = replace(episode, peak=finding.level, reading_ids=ids[-READING_IDS_KEPT:],
                                  clear_since=None, recovering=recovering)
                return _put(book, episode, family), None, episode
            episode = replace(episode, level=finding.level, kind=finding.kind, severity=finding.severity,
                              reading_ids=ids[-READING_IDS_KEPT:], clear_since=None, recovering=recovering,
                              peak=None)
            return _put(book, episode, family), Transition.ESCALATE, episode
        episode = _kept(episode, recovering)
        return _put(book, episode, family), None, episode
    if episode is None:
        return book, None, None
    if not clear:
        return _put(book, _kept(episode, recovering), family), None, episode
    since = episode.clear_since or at
    if at - since >= resolve_after:
        return _put(book, None, family), Transition.RESOLVE, episode
    return _put(book, replace(episode, clear_since=since, recovering=recovering), family), None, episode


@dataclass(frozen=True, slots=True)
class AckMark:
    """A care-team response to one alert id: acknowledged for good, or snoozed until a time."""

    alert_id: str
    action: AckAction
    at: datetime
    until: datetime | None = None


def is_acknowledged(alert_id: str, marks: tuple[AckMark, ...]) -> bool:
    return any(m.alert_id == alert_id and m.action is AckAction.ACK for m in marks)


def renotify_due(episode: Episode, alert_id: str, last_notified: datetime, now: datetime,
                 every: timedelta, marks: tuple[AckMark, ...] = ()) -> bool:
    """Whether the notifier should repeat this alert now (design section 5: the notifier owns delivery).

    Never after an acknowledgement, never during a snooze, never while glucose is clearly recovering
    (smart snooze), otherwise every `every` since the last notification.
    """
    if is_acknowledged(alert_id, marks):
        return False
    if any(m.alert_id == alert_id and m.until is not None and now < m.until for m in marks):
        return False
    if episode.recovering:
        return False
    return now - last_notified >= every
