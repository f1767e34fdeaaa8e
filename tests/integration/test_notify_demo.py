"""The demo's SMS side on the real broker: the urgent text is printed, the scripted nurse ACK is confirmed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from monitor.notify_demo import SmsDemo
from monitor.pseudonym import patient_key
from tests.integration.notifier_harness import SECRET, NotifierHarness
from tests.integration.test_notifier import urgent_low


def test_demo_prints_the_text_and_the_scripted_ack_is_confirmed(kafka_bootstrap: str, namespace: str,
                                                                  tmp_path: Path, capsys) -> None:
    settings = SimpleNamespace(pseudonym_secret=SECRET.encode())
    with SmsDemo(settings, kafka_bootstrap, namespace, tmp_path, "demo-patient-0001") as sms:
        NotifierHarness(kafka_bootstrap, namespace, tmp_path).publish(
            [urgent_low(patient_key("demo-patient-0001", SECRET.encode()))])
        confirmation = sms.scripted_ack()
    assert confirmation is not None and "已确认" in confirmation
    out = capsys.readouterr().out
    assert "紧急低血糖" in out and "ACK" in out and "已确认" in out
    assert "13800000001" not in out  # phone numbers are masked in the printout
