"""Care-team roster: who covers which patient when (primary, backup, lead; time-of-day shifts in local time zones)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.notifier import ROLES, OnDuty

_SHIFT = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class RosterError(ValueError):
    """A shift or role the roster cannot accept."""


@dataclass(frozen=True, slots=True)
class Shift:
    """A daily window in a time zone; end before start means it runs overnight (20:00-08:00)."""

    start: time
    end: time
    tz: str

    @classmethod
    def parse(cls, text: str, tz: str) -> Shift:
        m = _SHIFT.match(text.strip())
        if not m:
            raise RosterError(f"shift {text!r}: expected HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
            raise RosterError(f"shift {text!r}: not a time of day")
        zone(tz)
        end = time(23, 59, 59, 999999) if (h2, m2) == (24, 0) else time(h2, m2)
        return cls(time(h1, m1), end, tz)

    def covers(self, at: datetime) -> bool:
        local = at.astimezone(zone(self.tz)).time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= local < self.end or (self.end == time(23, 59, 59, 999999) and local >= self.start)
        return local >= self.start or local < self.end


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RosterError(f"unknown time zone {tz!r}") from exc


@dataclass(frozen=True, slots=True)
class Assignment:
    """One member in one role for one patient, all day or during a shift."""

    patient_key: str
    role: str
    member_id: str
    shift: Shift | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise RosterError(f"role {self.role!r}: expected one of {', '.join(ROLES)}")

    def covers(self, at: datetime) -> bool:
        return self.shift is None or self.shift.covers(at)


def on_duty(assignments: Iterable[Assignment], at: datetime) -> OnDuty:
    """Who covers each role now: a shift assignment in its window wins over an all-day one."""
    chosen: dict[str, str] = {}
    for a in sorted(assignments, key=lambda a: (a.shift is None, a.member_id)):
        if a.role not in chosen and a.covers(at):
            chosen[a.role] = a.member_id
    return OnDuty(chosen.get("primary"), chosen.get("backup"), chosen.get("lead"))


def care_team(assignments: Iterable[Assignment], patient_key: str) -> frozenset[str]:
    """Every member assigned to a patient in any role or shift: the numbers allowed to answer its alerts."""
    return frozenset(a.member_id for a in assignments if a.patient_key == patient_key)


def from_stored(rows: Iterable[Any]) -> list[Assignment]:
    return [Assignment(r.patient_key, r.role, r.member_id, Shift.parse(r.shift, r.tz) if r.shift else None)
            for r in rows]


def _mask(phone: str) -> str:
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:]


def cli_careteam(args: argparse.Namespace, settings: Any) -> int:
    """`vigil careteam add | assign | list`."""
    from monitor.identity import IdentityError, Member, StoredAssignment, open_store
    from monitor.pseudonym import is_patient_key, patient_key

    store = open_store(settings)
    try:
        if args.action == "add":
            store.add_member(Member(args.id, args.name, args.phone, args.locale, args.unit, args.tz))
            print(f"vigil: care-team member {args.id} saved (identity fields encrypted)")
        elif args.action == "assign":
            key = args.patient if is_patient_key(args.patient) else patient_key(args.patient,
                                                                                  settings.pseudonym_secret)
            if args.shift:
                Shift.parse(args.shift, args.tz)
            Assignment(key, args.role, args.member)
            store.assign(StoredAssignment(key, args.role, args.member, args.shift, args.tz))
            print(f"vigil: {args.member} is {args.role} for {key}" + (f" ({args.shift} {args.tz})" if args.shift
                                                                       else " (all day)"))
        else:
            for m in store.members():
                print(f"member {m.member_id:16} {_mask(m.phone):16} {m.locale:6} {m.unit:7} {m.tz}")
            for a in store.assignments():
                print(f"assign {a.patient_key} {a.role:8} {a.member_id:16} {a.shift or 'all day'} {a.tz}")
    except (IdentityError, RosterError) as exc:
        print(f"vigil: {exc}")
        return 2
    finally:
        store.close()
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("careteam", help="care-team members and who covers which patient when")
    parser.add_argument("action", choices=["add", "assign", "list"])
    parser.add_argument("--id", help="member id (add)")
    parser.add_argument("--name", help="member name (add; stored encrypted)")
    parser.add_argument("--phone", help="E.164 phone number (add; stored encrypted)")
    parser.add_argument("--locale", default="en", choices=["en", "zh-CN"])
    parser.add_argument("--unit", default="mg/dL", choices=["mg/dL", "mmol/L"])
    parser.add_argument("--tz", default="UTC", help="IANA time zone of the member or shift")
    parser.add_argument("--patient", help="enrolment id or patient key (assign)")
    parser.add_argument("--member", help="member id (assign)")
    parser.add_argument("--role", default="primary", choices=list(ROLES))
    parser.add_argument("--shift", default=None, help="HH:MM-HH:MM in --tz (assign; default all day)")
    parser.set_defaults(func=cli_careteam)
