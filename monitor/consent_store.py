"""Durable consent records (SQLite) and `vigil consent grant | revoke | show`, publishing each change to the worker."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.consent import Action, ConsentEvent, ConsentState, Scope
from monitor.pseudonym import is_patient_key, patient_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS consent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_key TEXT NOT NULL,
    scope TEXT NOT NULL,
    action TEXT NOT NULL,
    text_version TEXT NOT NULL,
    at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_by_patient ON consent_events (patient_key);
"""

Publish = Callable[[str, bytes | None], None]
"""Sends the latest state of one patient (or None, a tombstone) to the compacted consent topic."""


class ConsentStore:
    """Append-only history of consent changes per pseudonymous patient; only erasure deletes rows."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def record(self, event: ConsentEvent) -> ConsentState:
        """Stores one change and returns the patient's whole state after it."""
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO consent_events (patient_key, scope, action, text_version, at, recorded_by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (event.patient_key, event.scope.value, event.action.value, event.text_version,
                 event.at.astimezone(UTC).isoformat(), event.recorded_by),
            )
        return self.state(event.patient_key)

    def state(self, key: str) -> ConsentState:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT scope, action, text_version, at, recorded_by FROM consent_events"
                " WHERE patient_key = ? ORDER BY id", (key,)).fetchall()
        state = ConsentState(key)
        for scope, action, version, at, by in rows:
            state = state.with_event(ConsentEvent(key, Scope(scope), Action(action), version,
                                                  datetime.fromisoformat(at), by))
        return state

    def patients(self) -> list[str]:
        with closing(self._connect()) as db:
            return [r[0] for r in db.execute("SELECT DISTINCT patient_key FROM consent_events ORDER BY 1")]

    def states(self) -> Iterator[ConsentState]:
        for key in self.patients():
            yield self.state(key)

    def erase(self, key: str) -> int:
        """Deletes every consent row of one patient (erasure); returns how many."""
        with closing(self._connect()) as db:
            db.execute("PRAGMA secure_delete=ON")  # overwrite the freed bytes, not just unlink them
            with db:
                count = db.execute("DELETE FROM consent_events WHERE patient_key = ?", (key,)).rowcount
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(count)


def change(store: ConsentStore, publish: Publish, event: ConsentEvent) -> ConsentState:
    """Records a change, then publishes the full state, so the worker sees it within its poll interval."""
    state = store.record(event)
    publish(state.patient_key, state.to_json())
    return state


def grant(store: ConsentStore, bootstrap: str, namespace: str | None, key: str, at: datetime, by: str,
          scopes: tuple[Scope, ...] = (Scope.MONITORING,), text_version: str = "v1") -> ConsentState:
    """Records and publishes grants in one call (the demo and scripted enrolments use it)."""
    from monitor.consent_feed import KafkaConsentPublisher

    state = store.state(key)
    with KafkaConsentPublisher(bootstrap, namespace) as publisher:
        for scope in scopes:
            state = change(store, publisher.publish, ConsentEvent(key, scope, Action.GRANT, text_version, at, by))
    return state


def resolve_patient(patient: str, secret: bytes) -> str:
    """An enrolment id becomes its pseudonym here; a pseudonym passes through. Nothing else leaves the CLI."""
    return patient if is_patient_key(patient) else patient_key(patient, secret)


def describe(state: ConsentState, now: datetime) -> str:
    lines = [f"patient {state.patient_key}"]
    for scope in Scope:
        latest = state.latest(scope, now)
        if latest is None:
            lines.append(f"  {scope.value:14} never granted")
        else:
            mark = "ACTIVE " if latest.action is Action.GRANT else "revoked"
            lines.append(f"  {scope.value:14} {mark} since {latest.at:%Y-%m-%d %H:%M:%S}Z "
                         f"text {latest.text_version} recorded by {latest.recorded_by}")
    lines.append(f"  history: {len(state.events)} change(s)")
    return "\n".join(lines)


def default_path(settings: Any) -> Path:
    return Path(settings.home) / "consent.sqlite"


def _cli(args: argparse.Namespace, settings: Any) -> int:
    store = ConsentStore(Path(args.db) if args.db else default_path(settings))
    key = resolve_patient(args.patient, settings.pseudonym_secret)
    now = datetime.now(UTC)
    if args.at:
        at = datetime.fromisoformat(args.at)
        if at.tzinfo is None or at > now:
            print("vigil: --at needs a time zone and must not be in the future", file=sys.stderr)
            return 2
        now = at
    if args.action == "show":
        print(describe(store.state(key), now))
        return 0
    if not args.by:
        print("vigil: --by (who records this consent change) is required", file=sys.stderr)
        return 2
    from monitor.audit import AuditLog
    from monitor.consent_feed import KafkaConsentPublisher

    scopes = args.scope or [Scope.MONITORING.value]
    audit = AuditLog(Path(args.audit_db or os.environ.get("VIGIL_AUDIT_DB") or Path(settings.home) / "audit.sqlite"))
    try:
        with KafkaConsentPublisher(args.bootstrap or settings.bootstrap, settings.namespace) as publisher:
            state = store.state(key)
            for scope in scopes:
                event = ConsentEvent(key, Scope(scope), Action(args.action), args.text_version, now, args.by)
                state = change(store, publisher.publish, event)
                audit.append(f"consent_{args.action}", key, {"scope": scope, "text_version": args.text_version,
                                                             "recorded_by": args.by}, now)
    finally:
        audit.close()
    print(describe(state, now))
    return 0


def add_parser(sub: Any) -> None:
    """Registers `vigil consent grant | revoke | show <patient>`."""
    parser = sub.add_parser("consent", help="record or show a patient's consent (monitoring, SMS, research)")
    parser.add_argument("action", choices=["grant", "revoke", "show"])
    parser.add_argument("patient", help="enrolment id (turned into the pseudonym here) or a pk_ pseudonym")
    parser.add_argument("--scope", action="append", choices=[s.value for s in Scope],
                        help="repeatable; default monitoring")
    parser.add_argument("--text-version", default="v1", help="version of the consent text the patient agreed to")
    parser.add_argument("--by", default=None, help="who records this change (staff id)")
    parser.add_argument("--at", default=None, help="when the patient signed (ISO-8601 with zone; default now)")
    parser.add_argument("--db", default=None, help="consent database (default $VIGIL_HOME/consent.sqlite)")
    parser.add_argument("--audit-db", default=None,
                        help="audit database (default $VIGIL_AUDIT_DB or $VIGIL_HOME/audit.sqlite)")
    parser.add_argument("--bootstrap", default=None)
    parser.set_defaults(func=_cli)
