"""Append-only, hash-chained audit log (SQLite): every alert, send, status, reply and escalation, tamper-evident."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

GENESIS: Final = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry of the chain: what happened, to which subject (an alert id, a patient key), when, and details."""

    seq: int
    event_type: str
    subject: str
    details: Mapping[str, Any]
    at: datetime
    prev_hash: str
    hash: str


def _digest(prev_hash: str, seq: int, event_type: str, subject: str, details_json: bytes, at_iso: str) -> str:
    h = hashlib.sha256()
    for part in (prev_hash.encode(), str(seq).encode(), event_type.encode(), subject.encode(), details_json,
                 at_iso.encode()):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.hexdigest()


class AuditLog:
    """The audit log in one SQLite file; `append` is the only write and there is no update or delete."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: commits survive a process crash
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, event_type TEXT NOT NULL, "
            "subject TEXT NOT NULL, details TEXT NOT NULL, at TEXT NOT NULL, prev_hash TEXT NOT NULL, "
            "hash TEXT NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject)")
        # Refuse edits at the database level too (an attacker with the file can drop these; the chain still tells).
        self._db.execute("CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
                         "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")
        self._db.execute("CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
                         "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")

    def close(self) -> None:
        self._db.close()

    def append(self, event_type: str, subject: str, details: Mapping[str, Any] | None = None,
               at: datetime | None = None) -> AuditEvent:
        """Adds one event at the end of the chain (generic: consent, erasure and others use it too)."""
        when = (at or datetime.now(UTC)).astimezone(UTC)
        details_json = orjson.dumps(dict(details or {}), option=orjson.OPT_SORT_KEYS)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                digest = _digest(prev, seq, event_type, subject, details_json, when.isoformat())
                self._db.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (seq, event_type, subject, details_json.decode(), when.isoformat(), prev, digest))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return AuditEvent(seq, event_type, subject, orjson.loads(details_json), when, prev, digest)

    def _rows(self, where: str = "", params: tuple[Any, ...] = ()) -> Iterator[AuditEvent]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM audit {where} ORDER BY seq", params).fetchall()
        for seq, event_type, subject, details, at, prev, digest in rows:
            yield AuditEvent(seq, event_type, subject, orjson.loads(details), datetime.fromisoformat(at), prev, digest)

    def events(self, subject: str | None = None) -> list[AuditEvent]:
        if subject is None:
            return list(self._rows())
        return list(self._rows("WHERE subject = ?", (subject,)))

    def verify(self) -> tuple[bool, str]:
        """Recomputes the chain; returns (ok, message naming the first broken entry)."""
        prev = GENESIS
        expected_seq = 1
        with self._lock:
            rows = self._db.execute("SELECT * FROM audit ORDER BY seq").fetchall()
        for seq, event_type, subject, details, at, prev_hash, digest in rows:
            if seq != expected_seq:
                return False, f"entry {expected_seq} is missing (found {seq})"
            if prev_hash != prev:
                return False, f"entry {seq}: previous-hash link broken"
            if _digest(prev, seq, event_type, subject, details.encode(), at) != digest:
                return False, f"entry {seq}: content does not match its hash"
            prev = digest
            expected_seq += 1
        return True, f"{len(rows)} entries, chain intact"


def timeline(events: list[AuditEvent]) -> str:
    """A readable timeline for `vigil audit <alert_id>`."""
    if not events:
        return "no audit entries"
    start = events[0].at
    lines = []
    for event in sorted(events, key=lambda e: (e.at, e.seq)):
        offset = (event.at - start).total_seconds()
        detail = " ".join(f"{k}={v}" for k, v in sorted(event.details.items()) if v is not None)
        lines.append(f"{event.at.isoformat(timespec='seconds')}  +{offset:.1f}s  {event.event_type:18} {detail}")
    return "\n".join(lines)


def cli_audit(args: Any, settings: Any) -> int:
    """`vigil audit <alert_id>` prints a timeline; `vigil audit verify` checks the chain."""
    log = AuditLog(Path(getattr(args, "db", None) or settings.home / "audit.sqlite"))
    try:
        if args.target == "verify":
            ok, message = log.verify()
            print(("OK: " if ok else "TAMPERED: ") + message)
            return 0 if ok else 1
        print(timeline(log.events(args.target)))
        return 0
    finally:
        log.close()


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("audit", help="print an alert's timeline, or 'verify' the hash chain")
    parser.add_argument("target", help="an alert id, or 'verify'")
    parser.add_argument("--db", default=None, help="audit database (default $VIGIL_HOME/audit.sqlite)")
    parser.set_defaults(func=cli_audit)
