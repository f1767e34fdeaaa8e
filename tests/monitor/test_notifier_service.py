"""The notifier's glue on a fake clock with the real sink, ledger, audit log and identity store (Kafka recorded)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet

from monitor.audit import AuditLog
from monitor.identity import IdentityStore, Member, StoredAssignment
from monitor.notifier import Reason, Send, on_alert
from monitor.notifier_service import NotifierConfig, NotifierService, cli_notifier
from monitor.notify import TwilioSender
from monitor.notify_ledger import Ledger
from monitor.records import Ack, AckAction, DeadLetter, NotificationAttempt
from monitor.sms_sink import SinkThread, SmsSink, twilio_signature
from tests.monitor.notify_factories import PK, T0, make_alert

SID, TOKEN = "AC" + "2" * 32, "svc-token-0123"
PHONES = {"nurse-a": "+8613800000001", "nurse-b": "+8613800000002", "lead-c": "+8613800000003",
          "nurse-x": "+8613800000009"}


class RecordedKafka:
    """Stands in for NotifierKafka in unit tests only (integration tests use the real broker)."""

    def __init__(self) -> None:
        self.attempts: list[NotificationAttempt] = []
        self.acks: list[Ack] = []
        self.dead: list[DeadLetter] = []

    def publish_attempt(self, attempt: NotificationAttempt) -> None:
        self.attempts.append(attempt)

    def publish_ack(self, ack: Ack) -> None:
        self.acks.append(ack)

    def publish_dead_letter(self, dead: DeadLetter) -> None:
        self.dead.append(dead)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def sink() -> Iterator[SinkThread]:
    thread = SinkThread(SmsSink(SID, TOKEN, callback_gap_s=0)).start()
    yield thread
    thread.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def build(tmp_path: Path, sink: SinkThread, clock: Clock) -> tuple[NotifierService, RecordedKafka]:
    identity = IdentityStore(tmp_path / "id.sqlite", [Fernet.generate_key()], b"k" * 32)
    for member, phone in PHONES.items():
        identity.add_member(Member(member, member.upper(), phone))
    for role, member in (("primary", "nurse-a"), ("backup", "nurse-b"), ("lead", "lead-c")):
        identity.assign(StoredAssignment(PK, role, member, None, "UTC"))
    config = NotifierConfig("unused", None, tmp_path, SID, TOKEN, "+15550001111", sink.url,
                            "http://127.0.0.1:9", send_workers=0)
    kafka = RecordedKafka()
    service = NotifierService(config, kafka=kafka,  # type: ignore[arg-type]
                              sender=TwilioSender(SID, TOKEN, "+15550001111", base_url=sink.url,
                                                  sleep=lambda s: None),
                              identity=identity, audit=AuditLog(tmp_path / "audit.sqlite"),
                              ledger=Ledger(tmp_path / "ledger.sqlite"), clock=clock)
    return service, kafka


def texts(sink: SinkThread, member: str) -> list[str]:
    return [m.body for m in sink.sink.messages if m.to == PHONES[member]]


def reply_params(service: NotifierService, member_or_phone: str, body: str) -> dict[str, str]:
    phone = PHONES.get(member_or_phone, member_or_phone)
    return {"From": phone, "Body": body, "MessageSid": f"SM{abs(hash((phone, body)))}"}


def test_escalation_on_a_fake_clock_then_ack_stops(tmp_path: Path, sink: SinkThread, clock: Clock) -> None:
    service, kafka = build(tmp_path, sink, clock)
    alert = make_alert()
    service.handle_alert(alert)
    service.handle_alert(alert)  # a replayed record changes nothing
    assert len(texts(sink, "nurse-a")) == 1 and texts(sink, "nurse-b") == []
    clock.advance(9.9)
    service.tick()
    assert texts(sink, "nurse-b") == []
    clock.advance(0.1)
    service.tick()
    assert len(texts(sink, "nurse-b")) == 1

    code = service.tracks[alert.alert_id].code
    answer = service.on_reply(reply_params(service, "nurse-b", f"Ack {code}"))
    assert answer is not None and "acknowledged" in answer
    [ack] = kafka.acks
    assert (ack.alert_id, ack.responder_ref, ack.action) == (alert.alert_id, "nurse-b", AckAction.ACK)
    service.handle_ack(ack)
    for _ in range(6):
        clock.advance(10)
        service.tick()
    assert texts(sink, "lead-c") == [] and len(texts(sink, "nurse-a")) == 1
    events = [e.event_type for e in service.audit.events(alert.alert_id)]
    assert events[:2] == ["alert", "send"] and "escalation" in events and events[-2:] == ["reply", "ack_applied"]


def test_snooze_by_sms(tmp_path: Path, sink: SinkThread, clock: Clock) -> None:
    service, kafka = build(tmp_path, sink, clock)
    alert = make_alert()
    service.handle_alert(alert)
    code = service.tracks[alert.alert_id].code
    assert "snoozed for 45 min" in str(service.on_reply(reply_params(service, "nurse-a", f"snoze {code} 45")))
    service.handle_ack(kafka.acks[0])
    clock.advance(44)
    service.tick()
    assert texts(sink, "nurse-b") == []
    clock.advance(2)
    service.tick()
    assert len(texts(sink, "nurse-b")) == 1


@pytest.mark.parametrize(("sender", "body", "expected", "refused"), [
    ("+8613999999999", "ACK {code}", None, "unknown_number"),
    ("nurse-x", "ACK {code}", "no open alert", "not_on_care_team"),
    ("nurse-a", "ACK 0000", "no open alert", None),
    ("nurse-a", "thanks", "not understood", None),
    ("nurse-a", "help", "SNOOZE <code>", None),
])
def test_replies_that_do_not_acknowledge(tmp_path: Path, sink: SinkThread, clock: Clock, sender: str, body: str,
                                         expected: str | None, refused: str | None) -> None:
    service, kafka = build(tmp_path, sink, clock)
    alert = make_alert()
    service.handle_alert(alert)
    code = service.tracks[alert.alert_id].code
    answer = service.on_reply(reply_params(service, sender, body.format(code=code)))
    assert (answer is None) if expected is None else (expected in answer)  # type: ignore[operator]
    assert kafka.acks == []
    reasons = [e.details.get("reason") for e in service.audit.events() if e.event_type == "reply_refused"]
    assert reasons == ([refused] if refused else [])


def test_undelivered_status_to_primary_calls_the_backup_at_once(tmp_path: Path, sink: SinkThread,
                                                                  clock: Clock) -> None:
    service, kafka = build(tmp_path, sink, clock)
    alert = make_alert()
    service.handle_alert(alert)
    sid = sink.sink.messages[0].sid
    service.on_status({"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    service.handle_failure(*service.failures.get_nowait())
    assert len(texts(sink, "nurse-b")) == 1
    assert any(a.status == "undelivered" and a.error_code == "30003" for a in kafka.attempts)


@pytest.mark.parametrize(("faults", "invalid", "backup_texts"), [
    ([], True, 1),            # 21211 invalid number: no retry, backup at once
    (["500"] * 5, False, 1),  # retries exhausted: recorded and escalated, never retried forever
    (["429:0", "500"], False, 0),  # transient: delivered to the primary on the third try
])
def test_send_failures(tmp_path: Path, sink: SinkThread, clock: Clock, faults: list[str], invalid: bool,
                       backup_texts: int) -> None:
    service, _ = build(tmp_path, sink, clock)
    sink.sink.faults.extend(faults)
    if invalid:
        sink.sink.invalid.add(PHONES["nurse-a"])
    service.handle_alert(make_alert())
    service.drain_failures()
    assert len(texts(sink, "nurse-b")) == backup_texts
    assert len(texts(sink, "nurse-a")) == (1 - backup_texts)


def test_restart_reconciles_and_never_sends_twice(tmp_path: Path, sink: SinkThread, clock: Clock) -> None:
    service, _ = build(tmp_path, sink, clock)
    alert = make_alert()
    service.handle_alert(alert)
    [row] = service.ledger.sends_for(alert.alert_id)
    # Crash after the provider accepted the text but before the ledger said so:
    service.ledger.mark(row.key, "planned")
    # ...and a second alert whose send was planned but never reached the provider:
    other = make_alert(alert_id="a_2")
    track, _ = on_alert(None, other, service._duty(PK, clock()), "1234", clock())
    assert track is not None
    first = Send(other.alert_id, PK, "nurse-a", "primary", 1, Reason.INITIAL)
    service.ledger.save(track, [(first, "planned body")])
    restarted, _ = build(tmp_path, sink, clock)
    restarted.recover()
    bodies = [m.body for m in sink.sink.messages]
    assert len(bodies) == 2 and bodies[1] == "planned body"
    assert [e.event_type for e in restarted.audit.events(alert.alert_id)][-1] == "send_reconciled"
    restarted.recover()
    assert len(sink.sink.messages) == 2


def test_bad_records_are_dead_lettered(tmp_path: Path, sink: SinkThread, clock: Clock) -> None:
    from monitor.notifier_kafka import Incoming

    service, kafka = build(tmp_path, sink, clock)
    service.process(Incoming("vigil.alerts.v1", None, b"{not json"))
    assert kafka.dead and kafka.dead[0].stage == "notifier"


def test_signature_helper_matches_the_sink(tmp_path: Path, sink: SinkThread, clock: Clock) -> None:
    service, _ = build(tmp_path, sink, clock)
    params = {"From": PHONES["nurse-a"], "Body": "ACK 1"}
    url = "http://127.0.0.1:9/twilio/sms"
    assert service.validate(url, params, twilio_signature(TOKEN, url, params))
    assert not service.validate(url, params, twilio_signature("x", url, params))


def test_status_that_beats_the_create_response_is_applied_later(tmp_path: Path, sink: SinkThread,
                                                                 clock: Clock) -> None:
    service, kafka = build(tmp_path, sink, clock)
    early = {"MessageSid": "SM-early", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    service.on_status(early)
    assert kafka.attempts == [] and service.failures.empty()
    service.ledger.save(*_planned(service, clock))
    row = service.ledger.pending()[0]
    service.ledger.mark(row.key, "sent", "SM-early")
    service._apply_early_statuses("SM-early")
    assert [a.status for a in kafka.attempts] == ["undelivered"]
    assert service.failures.get_nowait() == (row.alert_id, "nurse-a", False)
    assert service.ledger.take_early_statuses("SM-early") == []


def _planned(service: NotifierService, clock: Clock) -> tuple:  # type: ignore[type-arg]
    alert = make_alert(alert_id="a_early")
    track, _ = on_alert(None, alert, service._duty(PK, clock()), "5555", clock())
    assert track is not None
    return track, [(Send(alert.alert_id, PK, "nurse-a", "primary", 1, Reason.INITIAL), "body")]


def test_pooled_sends_reach_everyone_once(tmp_path: Path, sink: SinkThread, clock: Clock) -> None:
    import dataclasses

    service, _ = build(tmp_path, sink, clock)
    service.close()
    pooled = NotifierService(dataclasses.replace(service.config, send_workers=3), kafka=service.kafka,
                             sender=service.sender, identity=service.identity, audit=service.audit,
                             ledger=service.ledger, clock=clock)
    sink.sink.faults.extend(["21211"])  # one permanent failure, handled on the engine thread afterwards
    for i in range(6):
        pooled.handle_alert(make_alert(alert_id=f"a_pool_{i}", episode_id=f"e_pool_{i}"))
    pooled.close()  # waits for the send threads
    pooled.drain_failures()
    assert len(texts(sink, "nurse-a")) == 5 and len(texts(sink, "nurse-b")) == 1
    assert all(r.state == "sent" for i in range(6) for r in pooled.ledger.sends_for(f"a_pool_{i}")
               if r.recipient == "nurse-b" or r.state != "failed")


def test_low_then_urgent_low_of_one_episode_re_alerts_only_the_urgent(tmp_path: Path, sink: SinkThread,
                                                                       clock: Clock) -> None:
    service, _ = build(tmp_path, sink, clock)
    service.handle_alert(make_alert("low", alert_id="a_low"))
    clock.advance(5)
    service.handle_alert(make_alert("urgent_low", alert_id="a_urgent"))
    assert set(service.tracks) == {"a_urgent"}
    clock.advance(15)
    service.tick()
    assert len(texts(sink, "nurse-a")) == 2 and len(texts(sink, "nurse-b")) == 1  # escalation of the urgent
    assert "superseded" in [e.event_type for e in service.audit.events("a_low")]


def test_restart_sends_when_the_provider_cannot_be_asked(tmp_path: Path, sink: SinkThread, clock: Clock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = build(tmp_path, sink, clock)
    service.ledger.save(*_planned(service, clock))

    def unavailable(*_: object) -> str | None:
        raise OSError("provider down")

    monkeypatch.setattr(service.sender, "find_sent", unavailable)
    service.recover()
    assert [m.body for m in sink.sink.messages] == ["body"]
    assert "reconcile_unavailable" in [e.event_type for e in service.audit.events("a_early")]


def test_a_busy_webhook_port_stops_the_notifier_with_the_port_before_it_connects_anywhere(monkeypatch, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        monkeypatch.setenv("VIGIL_WEBHOOK_PORT", str(port))
        settings = SimpleNamespace(bootstrap="127.0.0.1:1", namespace=None, home=tmp_path)
        with pytest.raises(SystemExit, match=f"cannot listen on 127.0.0.1:{port}: .*VIGIL_WEBHOOK_PORT"):
            cli_notifier(SimpleNamespace(loglevel="warning"), settings)
    assert not (tmp_path / "notifier").exists()  # nothing was built: no client, no ledger
