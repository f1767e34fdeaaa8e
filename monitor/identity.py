"""Encrypted identity store (SQLite, field-level Fernet): names and phone numbers stay here; only patient_key leaves."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from monitor.pseudonym import patient_key as make_patient_key


class IdentityError(ValueError):
    """A key, phone number or row that the identity store cannot accept."""


@dataclass(frozen=True, slots=True)
class Member:
    """One care-team member, decrypted for the notifier: where to text and how they read."""

    member_id: str
    name: str
    phone: str
    locale: str = "en"
    unit: str = "mg/dL"
    tz: str = "UTC"


@dataclass(frozen=True, slots=True)
class StoredAssignment:
    patient_key: str
    role: str
    member_id: str
    shift: str | None  # "HH:MM-HH:MM" or None for all day
    tz: str


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def normalize_phone(phone: str) -> str:
    """E.164 (+8613800000000); spaces, dashes and brackets are dropped, anything else is refused."""
    cleaned = re.sub(r"[\s\-().]", "", phone)
    if not _E164.match(cleaned):
        raise IdentityError("phone number must be in E.164 form, e.g. +8613800000000")
    return cleaned


def load_keys(env: Mapping[str, str], home: Path, *, create: bool = True) -> tuple[list[bytes], Path | None]:
    """Keys from VIGIL_IDENTITY_KEY (comma-separated, newest first) or a key file (one per line, 0600)."""
    if env.get("VIGIL_IDENTITY_KEY"):
        return [k.strip().encode() for k in env["VIGIL_IDENTITY_KEY"].split(",") if k.strip()], None
    key_file = Path(env.get("VIGIL_IDENTITY_KEY_FILE") or home / "identity.key")
    if not key_file.exists():
        if not create:
            raise IdentityError(f"no identity key: set VIGIL_IDENTITY_KEY or create {key_file}")
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key() + b"\n")
    keys = [line.strip() for line in key_file.read_bytes().splitlines() if line.strip()]
    if not keys:
        raise IdentityError(f"{key_file} holds no key")
    return keys, key_file


class IdentityStore:
    """SQLite with every identifying field encrypted; phones also kept as an HMAC for reply look-ups."""

    def __init__(self, path: Path | str, keys: list[bytes], lookup_secret: bytes) -> None:
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise IdentityError("identity key is not a valid Fernet key (32 url-safe base64 bytes)") from exc
        self._lookup_secret = lookup_secret
        self._lock = threading.Lock()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.executescript(
            "PRAGMA journal_mode=WAL;"
            "CREATE TABLE IF NOT EXISTS patients (patient_key TEXT PRIMARY KEY, enrolment_enc BLOB NOT NULL,"
            " name_enc BLOB, dob_enc BLOB);"
            "CREATE TABLE IF NOT EXISTS members (member_id TEXT PRIMARY KEY, name_enc BLOB NOT NULL,"
            " phone_enc BLOB NOT NULL, phone_hash TEXT NOT NULL UNIQUE, locale TEXT NOT NULL, unit TEXT NOT NULL,"
            " tz TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS assignments (patient_key TEXT NOT NULL, role TEXT NOT NULL,"
            " member_id TEXT NOT NULL REFERENCES members(member_id), shift TEXT, tz TEXT NOT NULL,"
            " PRIMARY KEY (patient_key, role, member_id, shift));")

    def close(self) -> None:
        self._db.close()

    def _enc(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode("utf-8"))

    def _dec(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken as exc:
            raise IdentityError("cannot decrypt identity data with the configured keys") from exc

    def phone_hash(self, phone: str) -> str:
        return hmac.new(self._lookup_secret, normalize_phone(phone).encode(), hashlib.sha256).hexdigest()

    # patients
    def add_patient(self, enrolment_id: str, name: str | None, dob: str | None, pseudonym_secret: bytes) -> str:
        key = make_patient_key(enrolment_id, pseudonym_secret)
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO patients VALUES (?, ?, ?, ?)",
                             (key, self._enc(enrolment_id), self._enc(name) if name else None,
                              self._enc(dob) if dob else None))
        return key

    def patient_name(self, patient_key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT name_enc FROM patients WHERE patient_key=?", (patient_key,)).fetchone()
        return self._dec(row[0]) if row and row[0] else None

    # members
    def add_member(self, member: Member) -> None:
        phone = normalize_phone(member.phone)
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO members VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (member.member_id, self._enc(member.name), self._enc(phone), self.phone_hash(phone),
                              member.locale, member.unit, member.tz))

    def member(self, member_id: str) -> Member | None:
        with self._lock:
            row = self._db.execute("SELECT member_id, name_enc, phone_enc, locale, unit, tz FROM members "
                                   "WHERE member_id=?", (member_id,)).fetchone()
        if row is None:
            return None
        return Member(row[0], self._dec(row[1]), self._dec(row[2]), row[3], row[4], row[5])

    def member_id_by_phone(self, phone: str) -> str | None:
        try:
            digest = self.phone_hash(phone)
        except IdentityError:
            return None
        with self._lock:
            row = self._db.execute("SELECT member_id FROM members WHERE phone_hash=?", (digest,)).fetchone()
        return row[0] if row else None

    def members(self) -> list[Member]:
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT member_id FROM members ORDER BY member_id")]
        return [m for m in (self.member(i) for i in ids) if m is not None]

    # assignments (the roster's storage; who covers whom is not identifying on its own)
    def assign(self, a: StoredAssignment) -> None:
        if self.member(a.member_id) is None:
            raise IdentityError(f"unknown care-team member {a.member_id!r} (add it first)")
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO assignments VALUES (?, ?, ?, ?, ?)",
                             (a.patient_key, a.role, a.member_id, a.shift, a.tz))

    def assignments(self, patient_key: str | None = None) -> list[StoredAssignment]:
        query = "SELECT patient_key, role, member_id, shift, tz FROM assignments"
        params: tuple[str, ...] = ()
        if patient_key is not None:
            query += " WHERE patient_key=?"
            params = (patient_key,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY patient_key, role, member_id", params).fetchall()
        return [StoredAssignment(*row) for row in rows]

    def rotate(self, new_key: bytes) -> int:
        """Re-encrypts every field under new_key (old keys still decrypt); returns the number of fields."""
        fernet = MultiFernet([Fernet(new_key), *self._fernet._fernets])
        count = 0
        with self._lock, self._db:
            for table, pk, columns in (("patients", "patient_key", ("enrolment_enc", "name_enc", "dob_enc")),
                                       ("members", "member_id", ("name_enc", "phone_enc"))):
                for row in self._db.execute(f"SELECT {pk}, {', '.join(columns)} FROM {table}").fetchall():
                    values = [None if v is None else fernet.rotate(v) for v in row[1:]]
                    count += sum(v is not None for v in values)
                    sets = ", ".join(f"{c}=?" for c in columns)
                    self._db.execute(f"UPDATE {table} SET {sets} WHERE {pk}=?", (*values, row[0]))
        self._fernet = MultiFernet([Fernet(new_key)])
        return count


def open_store(settings: object, env: Mapping[str, str] | None = None) -> IdentityStore:
    """The deployment's store: $VIGIL_HOME/identity.sqlite with keys from the environment or key file."""
    env = os.environ if env is None else env
    home = Path(getattr(settings, "home", ".vigil"))
    keys, _ = load_keys(env, home)
    secret: bytes = getattr(settings, "pseudonym_secret", b"")
    return IdentityStore(Path(env.get("VIGIL_IDENTITY_DB") or home / "identity.sqlite"), keys, secret)


def cli_keys(args: object, settings: object) -> int:
    """`vigil keys rotate`: a new key first in the key file, every field re-encrypted, old keys dropped."""
    env = os.environ
    home = Path(getattr(settings, "home", ".vigil"))
    keys, key_file = load_keys(env, home, create=False)
    if key_file is None:
        print("vigil: keys rotate needs a key file (VIGIL_IDENTITY_KEY_FILE); with VIGIL_IDENTITY_KEY, "
              "put the new key first in the variable and run again with the old ones after it")
        return 2
    store = open_store(settings, env)
    new_key = Fernet.generate_key()
    # Write the new key ahead of the old ones first, so a crash mid-rotation leaves every field readable.
    tmp = key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"\n".join([new_key, *keys]) + b"\n")
    os.replace(tmp, key_file)
    count = store.rotate(new_key)
    store.close()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(new_key + b"\n")
    os.replace(tmp, key_file)
    print(f"vigil: identity key rotated, {count} fields re-encrypted, old keys removed from {key_file}")
    return 0


def add_keys_parser(sub: object) -> None:
    parser = sub.add_parser("keys", help="identity-store key management")  # type: ignore[attr-defined]
    parser.add_argument("action", choices=["rotate"])
    parser.set_defaults(func=cli_keys)
