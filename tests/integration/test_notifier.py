"""The notifier on the real broker and the local Twilio sink: escalation, ACK, audit, 403, 429, crash-restart."""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from monitor.records import Alert, AlertState, Explanation, NotificationAttempt, Severity, from_json
from monitor.topics import ACKS, NOTIFICATIONS, namespaced
from tests.integration.kafka_helpers import create_namespace, new_namespace, read_topic, wait_until
from tests.integration.notifier_harness import NotifierHarness

ESCALATE_S = 3.0


def urgent_low(key: str, n: int = 1) -> Alert:
    return Alert(alert_id=f"a_it_{n}_{key[-6:]}", patient_key=key, episode_id=f"e_{n}", kind="urgent_low",
                 severity=Severity.URGENT, state=AlertState.OPEN, triggered_at=datetime.now(UTC),
                 reading_ids=(f"r_{n}",),
                 explanation=Explanation("urgent_low", "Glucose 48 mg/dL below 54 mg/dL", {"threshold_mgdl": 54.0},
                                         {"glucose_mgdl": 48.0}, trend_mgdl_per_min=-2.4),
                 value_mgdl=48.0)


@pytest.fixture
def harness(kafka_bootstrap: str, namespace: str, tmp_path: Path) -> Iterator[NotifierHarness]:
    h = NotifierHarness(kafka_bootstrap, namespace, tmp_path / "home",
                        env_extra={"VIGIL_ESCALATE_MINUTES": str(ESCALATE_S / 60), "VIGIL_RENOTIFY_MINUTES": "60"})
    yield h
    h.stop()


def code_in(text: str) -> str:
    match = re.search(r"ACK (\d{4})", text)
    assert match, text
    return match.group(1)


def test_urgent_low_escalates_ack_stops_and_timeline_is_complete(harness: NotifierHarness) -> None:
    [key] = harness.setup(["enrol-it-1"])
    harness.start()
    alert = urgent_low(key)
    harness.publish([alert])

    assert wait_until(lambda: harness.texts_to("nurse-a"), 30), harness.tail()
    first_at = time.monotonic()
    primary_text = harness.texts_to("nurse-a")[0]
    assert "紧急低血糖" in primary_text and "mmol/L" in primary_text and "非医疗建议" in primary_text
    assert wait_until(lambda: harness.texts_to("nurse-b"), 30), harness.tail()
    assert time.monotonic() - first_at >= ESCALATE_S * 0.8  # not before the configured time
    backup_text = harness.texts_to("nurse-b")[0]
    assert "URGENT LOW" in backup_text and "48 mg/dL" in backup_text

    answer = harness.reply("nurse-b", f"ack {code_in(backup_text)}")
    assert answer["status"] == 200 and "acknowledged" in str(answer["reply"])
    acks = read_topic(harness.bootstrap, namespaced(ACKS, harness.namespace), min_count=1, settle_s=0.5)
    assert len(acks) == 1

    audit_has = lambda kind: kind in harness.vigil("audit", alert.alert_id).stdout  # noqa: E731
    assert wait_until(lambda: audit_has("ack_applied"), 30), harness.tail()
    # Observation window: two more escalation periods pass with the lead never texted.
    deadline = time.monotonic() + 2.5 * ESCALATE_S
    while time.monotonic() < deadline:
        assert not harness.texts_to("lead-c"), "re-alerted after the ACK"
        time.sleep(0.2)
    assert len(harness.texts_to("nurse-a")) == 1 and len(harness.texts_to("nurse-b")) == 1

    timeline = harness.vigil("audit", alert.alert_id).stdout
    for event in ("alert", "send", "status", "escalation", "reply", "ack_applied"):
        assert re.search(rf"\s{event}\s", timeline), (event, timeline)
    assert "status=delivered" in timeline and "to=backup" in timeline
    verify = harness.vigil("audit", "verify")
    assert verify.returncode == 0 and verify.stdout.startswith("OK"), verify.stdout

    records = read_topic(harness.bootstrap, namespaced(NOTIFICATIONS, harness.namespace), min_count=6)
    attempts = [from_json(v, NotificationAttempt) for _, v in records]
    statuses = {(a.recipient_ref, a.status) for a in attempts}
    assert {("nurse-a", "delivered"), ("nurse-b", "delivered"), ("backup", "escalated_escalation")} <= statuses
    assert all(a.alert_id == alert.alert_id for a in attempts)
    for _, value in records + acks:  # topics carry pseudonyms and member ids, never names or phone numbers
        assert b"+86138" not in value and b"NURSE-A" not in value and b"enrol-it-1" not in value


def test_forged_unknown_and_foreign_replies_are_refused(harness: NotifierHarness) -> None:
    [key] = harness.setup(["enrol-it-2"])
    harness.start()
    alert = urgent_low(key, 2)
    harness.publish([alert])
    assert wait_until(lambda: harness.texts_to("nurse-a"), 30), harness.tail()
    code = code_in(harness.texts_to("nurse-a")[0])

    assert harness.reply("nurse-a", f"ACK {code}", forge=True)["status"] == 403
    unsigned = requests.post(harness.webhook_url + "/twilio/sms", data={"From": "+8613800000001",
                                                                         "Body": f"ACK {code}"}, timeout=10)
    assert unsigned.status_code == 403 and "Traceback" not in unsigned.text
    assert requests.post(harness.webhook_url + "/twilio/status", data={"MessageSid": "SMx"},
                         headers={"X-Twilio-Signature": "bogus"}, timeout=10).status_code == 403
    big = requests.post(harness.webhook_url + "/twilio/sms", data={"Body": "x" * 40_000}, timeout=10)
    assert big.status_code == 413

    stranger = harness.reply("+8613999999999", f"ACK {code}")
    assert stranger["status"] == 200 and stranger["reply"] is None
    foreign = harness.reply("nurse-x", f"ACK {code}")
    assert "no open alert" in str(foreign["reply"])
    timeline = harness.vigil("audit", alert.alert_id).stdout
    assert "reply_refused" in timeline and "not_on_care_team" in timeline
    assert read_topic(harness.bootstrap, namespaced(ACKS, harness.namespace), settle_s=1.0) == []


def test_429_then_success_gives_exactly_one_message(harness: NotifierHarness) -> None:
    [key] = harness.setup(["enrol-it-3"])
    assert harness.sink is not None
    harness.sink.sink.faults.extend(["429:1"])
    harness.env_extra["VIGIL_ESCALATE_MINUTES"] = "60"
    harness.start()
    alert = urgent_low(key, 3)
    harness.publish([alert])
    records = read_topic(harness.bootstrap, namespaced(NOTIFICATIONS, harness.namespace), min_count=4,
                         timeout_s=30)
    statuses = [from_json(v, NotificationAttempt).status for _, v in records]
    assert "send_retry" in statuses and statuses.count("delivered") == 1, statuses
    assert harness.sink.sink.requests == 2
    assert len(harness.texts_to("nurse-a")) == 1


def test_permanent_error_is_escalated_not_retried(harness: NotifierHarness) -> None:
    [key] = harness.setup(["enrol-it-4"])
    assert harness.sink is not None
    harness.sink.sink.invalid.add("+8613800000001")
    harness.env_extra["VIGIL_ESCALATE_MINUTES"] = "60"
    harness.start()
    harness.publish([urgent_low(key, 4)])
    assert wait_until(lambda: harness.texts_to("nurse-b"), 30), harness.tail()
    assert harness.sink.sink.requests == 2  # one refused create for nurse-a, then the backup at once


def test_sigkill_halfway_and_restart_sends_no_duplicate(harness: NotifierHarness) -> None:
    patients = [f"enrol-kill-{i}" for i in range(12)]
    keys = harness.setup(patients)
    assert harness.sink is not None
    harness.sink.sink.delay_s = 0.3  # each create is recorded, then answered 0.3 s later
    harness.env_extra["VIGIL_ESCALATE_MINUTES"] = "60"
    harness.start()
    harness.publish([urgent_low(k, i) for i, k in enumerate(keys)])
    assert wait_until(lambda: len(harness.texts_to("nurse-a")) >= 4, 30), harness.tail()
    harness.kill()
    killed_at = len(harness.texts_to("nurse-a"))
    assert killed_at < 12
    harness.start()
    assert wait_until(lambda: len(harness.texts_to("nurse-a")) >= 12, 60), harness.tail()
    # Read the attempts until they settle: by then the restarted notifier has done everything it would do.
    records = read_topic(harness.bootstrap, namespaced(NOTIFICATIONS, harness.namespace), min_count=12,
                         settle_s=3.0, timeout_s=60)
    accepted = {(a.alert_id, a.attempt) for a in (from_json(v, NotificationAttempt) for _, v in records)
                if a.status in ("queued", "reconciled")}
    assert len(accepted) == 12
    texts = harness.texts_to("nurse-a")
    duplicates = [t for t, n in collections.Counter(texts).items() if n > 1]
    assert len(texts) == 12 and not duplicates
    assert len({code_in(t) for t in texts}) == 12


def test_a_notifier_started_before_its_topics_exist_texts_once_they_do(kafka_bootstrap: str, tmp_path: Path) -> None:
    namespace = new_namespace()  # no topics yet: the notifier joins its group with nothing to be assigned
    late = NotifierHarness(kafka_bootstrap, namespace, tmp_path / "home",
                           env_extra={"VIGIL_ESCALATE_MINUTES": "60", "VIGIL_RENOTIFY_MINUTES": "60"})
    try:
        [key] = late.setup(["enrol-it-late"])
        late.start()
        time.sleep(1.0)  # the first join is over before the topics appear
        create_namespace(kafka_bootstrap, namespace)
        late.publish([urgent_low(key, 9)])
        assert wait_until(lambda: late.texts_to("nurse-a"), 30), late.tail()
    finally:
        late.stop()
