"""Roster: who is on duty by role, shift and time zone; the care team of a patient."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.notifier import OnDuty
from monitor.roster import Assignment, RosterError, Shift, care_team, on_duty

SH = "Asia/Shanghai"
ROSTER = [
    Assignment("pk_1", "primary", "day-nurse", Shift.parse("08:00-20:00", SH)),
    Assignment("pk_1", "primary", "night-nurse", Shift.parse("20:00-08:00", SH)),
    Assignment("pk_1", "backup", "backup-all-day"),
    Assignment("pk_1", "lead", "lead-ny", Shift.parse("09:00-17:00", "America/New_York")),
    Assignment("pk_1", "lead", "lead-all-day"),
    Assignment("pk_2", "primary", "other"),
]


@pytest.mark.parametrize(("utc_time", "expected"), [
    ("2026-03-01T01:00", OnDuty("day-nurse", "backup-all-day", "lead-all-day")),   # 09:00 Shanghai
    ("2026-03-01T11:59", OnDuty("day-nurse", "backup-all-day", "lead-all-day")),   # 19:59 Shanghai
    ("2026-03-01T12:00", OnDuty("night-nurse", "backup-all-day", "lead-all-day")),  # 20:00 Shanghai
    ("2026-03-01T19:00", OnDuty("night-nurse", "backup-all-day", "lead-ny")),  # 03:00 SH, 14:00 NY
    ("2026-03-01T23:00", OnDuty("night-nurse", "backup-all-day", "lead-all-day")),  # 07:00 SH, 18:00 NY
])
def test_on_duty(utc_time: str, expected: OnDuty) -> None:
    at = datetime.fromisoformat(utc_time).replace(tzinfo=UTC)
    assert on_duty([a for a in ROSTER if a.patient_key == "pk_1"], at) == expected


def test_care_team() -> None:
    assert care_team(ROSTER, "pk_2") == {"other"}
    assert "night-nurse" in care_team(ROSTER, "pk_1") and "other" not in care_team(ROSTER, "pk_1")


@pytest.mark.parametrize(("shift", "tz"), [("8-20", "UTC"), ("25:00-26:00", "UTC"), ("08:00-20:00", "Mars/Base")])
def test_bad_shifts_are_refused(shift: str, tz: str) -> None:
    with pytest.raises(RosterError):
        Shift.parse(shift, tz)


def test_unknown_role_is_refused() -> None:
    with pytest.raises(RosterError):
        Assignment("pk_1", "janitor", "x")


def test_all_day_shift_until_midnight() -> None:
    shift = Shift.parse("00:00-24:00", "UTC")
    assert shift.covers(datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC))


def test_careteam_and_keys_cli(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from monitor.__main__ import main

    monkeypatch.setenv("VIGIL_HOME", str(tmp_path))
    monkeypatch.delenv("VIGIL_IDENTITY_KEY", raising=False)
    monkeypatch.delenv("VIGIL_IDENTITY_DB", raising=False)
    assert main(["careteam", "add", "--id", "nurse-li", "--name", "Li Na", "--phone", "+8613800000001",
                 "--locale", "zh-CN", "--unit", "mmol/L", "--tz", "Asia/Shanghai"]) == 0
    assert main(["careteam", "assign", "--patient", "enrol-1", "--member", "nurse-li", "--role", "primary",
                 "--shift", "08:00-20:00", "--tz", "Asia/Shanghai"]) == 0
    assert main(["careteam", "assign", "--patient", "enrol-1", "--member", "ghost"]) == 2
    assert main(["careteam", "assign", "--patient", "enrol-1", "--member", "nurse-li", "--shift", "8-20"]) == 2
    capsys.readouterr()
    assert main(["careteam", "list"]) == 0
    listing = capsys.readouterr().out
    assert "+86*******0001" in listing
    assert "13800000001" not in listing and "Li Na" not in listing and "enrol-1" not in listing
    assert "08:00-20:00 Asia/Shanghai" in listing
    old_key = (tmp_path / "identity.key").read_bytes()
    assert main(["keys", "rotate"]) == 0
    assert (tmp_path / "identity.key").read_bytes() != old_key
    capsys.readouterr()
    assert main(["careteam", "list"]) == 0 and "nurse-li" in capsys.readouterr().out
