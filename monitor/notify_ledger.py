"""Durable local send ledger (SQLite WAL): delivery state and every planned send survive a process crash."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from monitor.notifier import Send, Track, track_from_dict, track_to_dict

PLANNED, INFLIGHT, SENT, FAILED = "planned", "inflight", "sent", "failed"


@dataclass(frozen=True, slots=True)
class LedgerSend:
    """One row of the ledger: an idempotent send and how far it got."""

    key: str
    alert_id: str
    patient_key: str
    recipient: str
    role: str
    attempt: int
    reason: str
    body: str
    state: str
    sid: str | None
    updated_at: str


class Ledger:
    """Tracks, reply codes and sends; a send key is inserted once, so nothing is ever planned twice."""

    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.executescript(
            # WAL + NORMAL: every commit survives a process crash (SIGKILL); after a power loss the last commits may be
            # lost, and recovery then reconciles pending sends against the provider before sending anything.
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            "CREATE TABLE IF NOT EXISTS tracks (alert_id TEXT PRIMARY KEY, data BLOB NOT NULL, open INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS codes (code TEXT PRIMARY KEY, alert_id TEXT NOT NULL UNIQUE,"
            " patient_key TEXT NOT NULL, open INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS sends (key TEXT PRIMARY KEY, alert_id TEXT NOT NULL, patient_key TEXT NOT NULL,"
            " recipient TEXT NOT NULL, role TEXT NOT NULL, attempt INTEGER NOT NULL, reason TEXT NOT NULL,"
            " body TEXT NOT NULL, state TEXT NOT NULL, sid TEXT, updated_at TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS sends_sid ON sends(sid);"
            "CREATE TABLE IF NOT EXISTS early_statuses (sid TEXT NOT NULL, params BLOB NOT NULL, at TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS sends_state ON sends(state);")

    def close(self) -> None:
        self._db.close()

    def save(self, track: Track, sends: list[tuple[Send, str]]) -> list[Send]:
        """One transaction: the track, its reply code and its new sends (planned). Returns the new sends."""
        now = datetime.now(UTC).isoformat()
        fresh: list[Send] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                is_open = 0 if (track.done or track.exhausted) else 1
                self._db.execute("INSERT OR REPLACE INTO tracks VALUES (?, ?, ?)",
                                 (track.alert.alert_id, orjson.dumps(track_to_dict(track)), is_open))
                self._db.execute("INSERT INTO codes VALUES (?, ?, ?, ?) ON CONFLICT(code) DO UPDATE SET "
                                 "alert_id=excluded.alert_id, patient_key=excluded.patient_key, open=excluded.open",
                                 (track.code, track.alert.alert_id, track.alert.patient_key, is_open))
                for send, body in sends:
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO sends VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                        (send.key, send.alert_id, send.patient_key, send.recipient, send.role, send.attempt,
                         send.reason.value, body, PLANNED, now))
                    if cur.rowcount:
                        fresh.append(send)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return fresh

    def open_tracks(self) -> list[Track]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM tracks WHERE open=1").fetchall()
        return [track_from_dict(orjson.loads(r[0])) for r in rows]

    def track(self, alert_id: str) -> Track | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM tracks WHERE alert_id=?", (alert_id,)).fetchone()
        return track_from_dict(orjson.loads(row[0])) if row else None

    def allocate_code(self, alert_id: str, candidates: list[str]) -> str:
        """The alert's reply code: its existing one, else the first candidate no other open alert holds.

        Only the engine thread allocates, and `save` records the code with the track in one transaction."""
        with self._lock:
            row = self._db.execute("SELECT code FROM codes WHERE alert_id=?", (alert_id,)).fetchone()
            if row:
                return str(row[0])
            for code in candidates:
                taken = self._db.execute("SELECT open FROM codes WHERE code=?", (code,)).fetchone()
                if taken is None or taken[0] == 0:
                    return code
        raise RuntimeError("no free reply code")  # 9,000 codes: only reachable with thousands of open alerts

    def alert_for_code(self, code: str) -> tuple[str, str] | None:
        """(alert_id, patient_key) of the open alert holding this reply code."""
        with self._lock:
            row = self._db.execute("SELECT alert_id, patient_key FROM codes WHERE code=? AND open=1",
                                   (code,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def mark(self, key: str, state: str, sid: str | None = None) -> None:
        with self._lock:
            self._db.execute("UPDATE sends SET state=?, sid=COALESCE(?, sid), updated_at=? WHERE key=?",
                             (state, sid, datetime.now(UTC).isoformat(), key))

    def _sends(self, where: str, params: tuple[object, ...]) -> list[LedgerSend]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM sends WHERE {where} ORDER BY updated_at, key", params).fetchall()
        return [LedgerSend(*row) for row in rows]

    def pending(self) -> list[LedgerSend]:
        """Sends planned but not finished: after a crash each is reconciled with the provider before any send."""
        return self._sends("state IN (?, ?)", (PLANNED, INFLIGHT))

    def send(self, key: str) -> LedgerSend | None:
        found = self._sends("key=?", (key,))
        return found[0] if found else None

    def send_by_sid(self, sid: str) -> LedgerSend | None:
        found = self._sends("sid=?", (sid,))
        return found[0] if found else None

    def keep_early_status(self, sid: str, params: dict[str, str]) -> None:
        """A status callback that beat the create response: kept until the send is marked with its sid."""
        with self._lock:
            self._db.execute("INSERT INTO early_statuses VALUES (?, ?, ?)",
                             (sid, orjson.dumps(params), datetime.now(UTC).isoformat()))

    def take_early_statuses(self, sid: str) -> list[dict[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT params FROM early_statuses WHERE sid=? ORDER BY rowid", (sid,)).fetchall()
            if rows:
                self._db.execute("DELETE FROM early_statuses WHERE sid=?", (sid,))
        return [orjson.loads(r[0]) for r in rows]

    def sends_for(self, alert_id: str) -> list[LedgerSend]:
        return self._sends("alert_id=?", (alert_id,))
