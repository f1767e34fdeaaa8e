"""Gateway-local SQLite store of enrolled devices: patient pseudonym, consent, device info, last sequence."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from monitor.pseudonym import patient_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    address TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    patient_key TEXT NOT NULL,
    consent INTEGER NOT NULL,
    consent_by TEXT NOT NULL,
    consent_at TEXT NOT NULL,
    manufacturer TEXT,
    model TEXT,
    serial TEXT,
    name TEXT,
    enrolled_at TEXT NOT NULL,
    last_seq INTEGER
);
"""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the Device Information service (0x180A) and the advertisement told us."""

    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """Who recorded the patient's consent to remote monitoring, and whether it is given."""

    given: bool
    by: str


@dataclass(frozen=True, slots=True)
class Enrolment:
    """One device enrolled to one pseudonymous patient."""

    address: str
    device_id: str
    patient_key: str
    consent: bool
    consent_by: str
    consent_at: datetime
    info: DeviceInfo
    enrolled_at: datetime
    last_seq: int | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an enrolment was refused (errors are data)."""

    address: str
    reason: str


def normalize_address(address: str) -> str:
    """Upper-case colon form without bumble's '/P' suffix, so one device has one key."""
    return address.split("/", 1)[0].strip().upper()


def device_id_for(address: str, info: DeviceInfo) -> str:
    """A stable device id: the serial number when the device reports one, else its address."""
    if info.serial:
        maker = (info.manufacturer or "unknown").strip().lower().replace(" ", "-")
        return f"ble:{maker}:{info.serial.strip()}"
    return f"ble:{normalize_address(address)}"


class EnrolmentStore:
    """SQLite-backed enrolment table; one connection, used from one thread."""

    def __init__(self, path: str | Path, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._now = now

    def close(self) -> None:
        self._db.close()

    def enrol(
        self,
        address: str,
        *,
        enrolment_id: str,
        secret: bytes,
        consent: Consent | None,
        info: DeviceInfo,
    ) -> Enrolment | Refusal:
        """Records a device against a patient; refused unless consent is given and named."""
        addr = normalize_address(address)
        if consent is None or not consent.given:
            return Refusal(addr, "no_consent: consent must be recorded at pairing")
        if not consent.by.strip():
            return Refusal(addr, "no_consent: the person recording consent must be named")
        key = patient_key(enrolment_id, secret)
        now = self._now().astimezone(UTC).isoformat()
        existing = self.get(addr)
        last_seq = existing.last_seq if existing is not None and existing.patient_key == key else None
        self._db.execute(
            "INSERT OR REPLACE INTO devices VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (addr, device_id_for(addr, info), key, 1, consent.by.strip(), now,
             info.manufacturer, info.model, info.serial, info.name, now, last_seq),
        )
        enrolled = self.get(addr)
        assert enrolled is not None
        return enrolled

    def revoke_consent(self, address: str) -> bool:
        """Withdraws consent; the gateway then dead-letters this device's readings as no_consent."""
        cur = self._db.execute(
            "UPDATE devices SET consent=0, consent_at=? WHERE address=?",
            (self._now().astimezone(UTC).isoformat(), normalize_address(address)),
        )
        return cur.rowcount == 1

    def get(self, address: str) -> Enrolment | None:
        row = self._db.execute(
            "SELECT * FROM devices WHERE address=?", (normalize_address(address),)
        ).fetchone()
        return None if row is None else _row(row)

    def all(self) -> list[Enrolment]:
        return [_row(r) for r in self._db.execute("SELECT * FROM devices ORDER BY address")]

    def record_sequence(self, address: str, seq: int) -> None:
        """Remembers the highest sequence number seen from a device (never moves backwards)."""
        self._db.execute(
            "UPDATE devices SET last_seq = MAX(COALESCE(last_seq, -1), ?) WHERE address=?",
            (seq, normalize_address(address)),
        )

    def last_sequence(self, address: str) -> int | None:
        enrolment = self.get(address)
        return None if enrolment is None else enrolment.last_seq


def _row(r: tuple[object, ...]) -> Enrolment:
    (address, device_id, key, consent, by, consent_at, manufacturer, model, serial, name, enrolled_at,
     last_seq) = r
    return Enrolment(
        address=str(address),
        device_id=str(device_id),
        patient_key=str(key),
        consent=bool(consent),
        consent_by=str(by),
        consent_at=datetime.fromisoformat(str(consent_at)),
        info=DeviceInfo(
            manufacturer=_opt(manufacturer), model=_opt(model), serial=_opt(serial), name=_opt(name)
        ),
        enrolled_at=datetime.fromisoformat(str(enrolled_at)),
        last_seq=None if last_seq is None else int(str(last_seq)),
    )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
