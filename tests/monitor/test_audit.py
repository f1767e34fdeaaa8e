"""Audit log: append-only, hash-chained, tamper detection, timelines."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.audit import AuditLog, timeline
from tests.monitor.notify_factories import T0, mins


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    log = AuditLog(tmp_path / "audit.sqlite")
    for i, event in enumerate(["alert", "send", "status", "reply", "escalation"]):
        log.append(event, "a_1", {"step": i}, T0 + mins(i))
    log.append("consent", "pk_x", {"scope": "monitoring"}, T0)
    return log


def test_chain_verifies_and_timeline_lists_the_subject(log: AuditLog) -> None:
    assert log.verify() == (True, "6 entries, chain intact")
    text = timeline(log.events("a_1"))
    assert [line.split()[2] for line in text.splitlines()] == ["alert", "send", "status", "reply", "escalation"]
    assert "consent" not in text


@pytest.mark.parametrize("sql", ["UPDATE audit SET details='{}' WHERE seq=2", "DELETE FROM audit WHERE seq=3"])
def test_updates_and_deletes_are_refused(log: AuditLog, sql: str) -> None:
    db = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(sql)


@pytest.mark.parametrize(("sql", "message"), [
    ("UPDATE audit SET details='{\"step\":9}' WHERE seq=2", "entry 2: content"),
    ("DELETE FROM audit WHERE seq=3", "entry 3 is missing"),
    ("UPDATE audit SET at='2020-01-01T00:00:00+00:00' WHERE seq=4", "entry 4: content"),
])
def test_tampering_is_detected(log: AuditLog, sql: str, message: str) -> None:
    db = sqlite3.connect(log.path)
    db.executescript("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
    db.execute(sql)
    db.commit()
    ok, text = log.verify()
    assert not ok and message in text


def test_reopened_log_continues_the_chain(log: AuditLog, tmp_path: Path) -> None:
    log.close()
    again = AuditLog(tmp_path / "audit.sqlite")
    event = again.append("erasure", "pk_x", {"rows": 3})
    assert event.seq == 7 and again.verify()[0]
