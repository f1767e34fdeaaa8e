"""The real twilio Client against the local sink: sends, retries with Retry-After, permanent errors, signatures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.notify import TwilioSender, backoff_s, signature_is_valid
from monitor.sms_sink import SinkThread, SmsSink, twilio_signature

SID, TOKEN = "AC" + "1" * 32, "token-0123456789"
NURSE = "+8613800000001"


@pytest.fixture
def sink() -> Iterator[SinkThread]:
    thread = SinkThread(SmsSink(SID, TOKEN)).start()
    yield thread
    thread.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def sender(sink: SinkThread, sleeps: list[float]) -> TwilioSender:
    return TwilioSender(SID, TOKEN, "+15550001111", base_url=sink.url, sleep=sleeps.append, jitter=lambda: 0.0)


def test_send_reaches_the_sink(sender: TwilioSender, sink: SinkThread) -> None:
    [result] = sender.send(NURSE, "hello")
    assert result.ok and result.sid and result.sid.startswith("SM")
    [message] = sink.sink.messages
    assert (message.to, message.from_, message.body, message.sid) == (NURSE, "+15550001111", "hello", result.sid)


@pytest.mark.parametrize(("faults", "tries", "ok", "slept"), [
    (["429:2"], 2, True, [2.0]),
    (["500"], 2, True, [0.5]),
    (["500", "500", "429:1"], 4, True, [0.5, 1.0, 1.0]),
    (["500"] * 5, 5, False, [0.5, 1.0, 2.0, 4.0]),
    (["21211"], 1, False, []),
    (["21610-rfc9457"], 1, False, []),
])
def test_retries(sender: TwilioSender, sink: SinkThread, sleeps: list[float], faults: list[str], tries: int,
                 ok: bool, slept: list[float]) -> None:
    sink.sink.faults.extend(faults)
    results = sender.send(NURSE, "hello")
    assert len(results) == tries and results[-1].ok is ok
    assert sleeps == slept
    assert len(sink.sink.messages) == (1 if ok else 0)


def test_permanent_error_is_not_retryable(sender: TwilioSender, sink: SinkThread) -> None:
    sink.sink.invalid.add(NURSE)
    [result] = sender.send(NURSE, "hello")
    assert not result.ok and not result.retryable and result.error_code == "21211"


def test_connection_refused_is_retryable(sleeps: list[float]) -> None:
    sender = TwilioSender(SID, TOKEN, "+15550001111", base_url="http://127.0.0.1:9", sleep=sleeps.append,
                          max_tries=2, jitter=lambda: 0.0)
    results = sender.send(NURSE, "hello")
    assert [r.retryable for r in results] == [True, True] and not results[-1].ok


def test_find_sent_reconciles(sender: TwilioSender) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    [result] = sender.send(NURSE, "the body")
    assert sender.find_sent(NURSE, "the body", before) == result.sid
    assert sender.find_sent(NURSE, "other body", before) is None
    assert sender.find_sent("+8613800000009", "the body", before) is None


def test_sink_signature_is_what_twilio_validates() -> None:
    url = "https://example.org/twilio/sms?x=1"
    params = {"Body": "ACK 4821", "From": NURSE, "MessageSid": "SM1"}
    signature = twilio_signature(TOKEN, url, params)
    assert signature_is_valid(TOKEN, url, params, signature)
    assert not signature_is_valid(TOKEN, url, {**params, "Body": "ACK 4822"}, signature)
    assert not signature_is_valid("other-token", url, params, signature)
    assert not signature_is_valid(TOKEN, url, params, None)


@pytest.mark.parametrize(("attempt", "retry_after", "expected"), [(1, None, 0.5), (3, None, 2.0), (9, None, 8.0),
                                                                   (1, 7.0, 7.0)])
def test_backoff(attempt: int, retry_after: float | None, expected: float) -> None:
    assert backoff_s(attempt, retry_after, 0.0) == expected
