"""Identity store: fields encrypted at rest, phone look-up by HMAC, key rotation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from monitor.identity import IdentityError, IdentityStore, Member, StoredAssignment, load_keys, normalize_phone

SECRET = b"s" * 32
NURSE = Member("nurse-li", "Li Na", "+86 138-0000-0001", "zh-CN", "mmol/L", "Asia/Shanghai")


@pytest.fixture
def store(tmp_path: Path) -> IdentityStore:
    s = IdentityStore(tmp_path / "id.sqlite", [Fernet.generate_key()], SECRET)
    s.add_member(NURSE)
    return s


def test_nothing_identifying_is_stored_in_clear(store: IdentityStore, tmp_path: Path) -> None:
    key = store.add_patient("ENR-0042", "Wang Fang", "1950-02-03", SECRET)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("id.sqlite*"))
    for needle in (b"Li Na", b"13800000001", b"ENR-0042", b"Wang Fang", b"1950-02-03"):
        assert needle not in raw
    assert key.startswith("pk_")


def test_member_round_trip_and_phone_lookup(store: IdentityStore) -> None:
    member = store.member("nurse-li")
    assert member is not None and member.phone == "+8613800000001" and member.name == "Li Na"
    assert store.member_id_by_phone("+8613800000001") == "nurse-li"
    assert store.member_id_by_phone("+8613800000002") is None
    assert store.member_id_by_phone("garbage") is None


@pytest.mark.parametrize(("phone", "ok"), [("+8613800000001", True), ("+1 (415) 555-0100", True),
                                           ("13800000001", False), ("+0123", False), ("+86abc", False)])
def test_phone_normalization(phone: str, ok: bool) -> None:
    if ok:
        assert normalize_phone(phone).startswith("+")
    else:
        with pytest.raises(IdentityError):
            normalize_phone(phone)


def test_rotation_re_encrypts_and_old_key_no_longer_needed(tmp_path: Path) -> None:
    old = Fernet.generate_key()
    s = IdentityStore(tmp_path / "id.sqlite", [old], SECRET)
    s.add_member(NURSE)
    s.add_patient("ENR-1", "X", None, SECRET)
    new = Fernet.generate_key()
    assert s.rotate(new) == 4
    s.close()
    only_new = IdentityStore(tmp_path / "id.sqlite", [new], SECRET)
    assert only_new.member("nurse-li") == Member("nurse-li", "Li Na", "+8613800000001", "zh-CN", "mmol/L",
                                                 "Asia/Shanghai")
    only_old = IdentityStore(tmp_path / "id.sqlite", [old], SECRET)
    with pytest.raises(IdentityError):
        only_old.member("nurse-li")


def test_keys_from_env_or_file(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    assert load_keys({"VIGIL_IDENTITY_KEY": key}, tmp_path) == ([key.encode()], None)
    keys, path = load_keys({}, tmp_path)
    assert path == tmp_path / "identity.key" and len(keys) == 1 and (path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(IdentityError):
        load_keys({}, tmp_path / "other", create=False)
    with pytest.raises(IdentityError):
        IdentityStore(tmp_path / "x.sqlite", [b"not-a-key"], SECRET)


def test_assignments_need_a_known_member(store: IdentityStore) -> None:
    store.assign(StoredAssignment("pk_1", "primary", "nurse-li", "08:00-20:00", "Asia/Shanghai"))
    assert store.assignments("pk_1")[0].member_id == "nurse-li"
    with pytest.raises(IdentityError):
        store.assign(StoredAssignment("pk_1", "backup", "ghost", None, "UTC"))
    assert sqlite3.connect(":memory:")  # the store works with the standard sqlite3 module only
