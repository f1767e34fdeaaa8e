"""Gateway.on_value: readings into the outbox, bad input and refusals as dead letters, never a stop."""

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from device_gateway import runtime
from device_gateway.emulator import payloads as p
from device_gateway.enrolment import Consent, DeviceInfo, EnrolmentStore
from device_gateway.fake_publisher import FakePublisher
from device_gateway.outbox import Outbox
from device_gateway.runtime import Gateway
from monitor.records import DeadLetter, Reading

METER, STRANGER, REVOKED = "F1:00:00:00:00:02", "F1:00:00:00:00:09", "F1:00:00:00:00:08"
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SECRET = b"runtime-test-secret-0123"
GLUCOSE = 0x2A18


def good(seq: int) -> bytes:
    return p.glucose_measurement(seq, NOW, 100.0 + seq, context_follows=False)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    store = EnrolmentStore(tmp_path / "enrol.db", now=lambda: NOW)
    for address in (METER, REVOKED):
        store.enrol(address, enrolment_id="E-1", secret=SECRET, consent=Consent(True, "Nurse A"),
                    info=DeviceInfo(serial=address[-2:]))
    store.revoke_consent(REVOKED)
    outbox = Outbox(tmp_path / "outbox.db", now=lambda: NOW)
    yield Gateway(store, outbox, now=lambda: NOW, readings_topic="r", deadletter_topic="d")
    outbox.close()
    store.close()


def published(gateway: Gateway) -> list[object]:
    pub = FakePublisher()
    assert gateway.outbox.drain(pub).error is None
    return pub.log


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"\x02\x01", "truncated"),
        (good(1) + b"\x00", "over-long"),
        (bytes([0x80]) + good(1)[1:], "reserved flag"),
        (b"", "empty"),
    ],
)
def test_a_bad_payload_becomes_a_dead_letter_with_the_raw_bytes(gateway: Gateway, payload: bytes, why: str) -> None:
    gateway.on_value(METER, GLUCOSE, payload, None)
    [letter] = published(gateway)
    assert isinstance(letter, DeadLetter), why
    assert letter.stage == "decode" and "0x2a18" in letter.reason
    assert base64.b64decode(letter.raw_b64) == payload
    assert gateway.counts == {"readings": 0, "dead_letters": 1, "duplicates": 0}


@pytest.mark.parametrize("address", [STRANGER, REVOKED], ids=["never-enrolled", "consent-revoked"])
def test_a_device_without_consent_is_refused(gateway: Gateway, address: str) -> None:
    gateway.on_value(address, GLUCOSE, good(1), None)
    [letter] = published(gateway)
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.reason) == ("consent", "no_consent")
    assert gateway.counts["readings"] == 0


def test_decode_errors_never_stop_the_stream(gateway: Gateway) -> None:
    for payload in (good(0), b"\x02", good(1), b"\xff" * 40, good(2)):
        gateway.on_value(METER, GLUCOSE, payload, None)
    kinds = [type(r).__name__ for r in published(gateway)]
    assert kinds == ["Reading", "DeadLetter", "Reading", "DeadLetter", "Reading"]
    assert gateway.store.last_sequence(METER) == 2


def test_an_unexpected_decoder_failure_is_a_dead_letter_too(gateway: Gateway,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> list[Reading]:
        raise ZeroDivisionError("decoder bug")

    monkeypatch.setattr(runtime, "to_readings", broken)
    gateway.on_value(METER, GLUCOSE, good(0), None)
    monkeypatch.undo()
    gateway.on_value(METER, GLUCOSE, good(1), None)
    letter, reading = published(gateway)
    assert isinstance(letter, DeadLetter) and "ZeroDivisionError" in letter.reason
    assert isinstance(reading, Reading) and reading.sequence == 1


def test_a_repeated_record_is_counted_as_a_duplicate(gateway: Gateway) -> None:
    gateway.on_value(METER, GLUCOSE, good(3), None)
    gateway.on_value(METER, GLUCOSE, good(3), None)  # a RACP backfill resending what was live
    assert gateway.counts == {"readings": 1, "dead_letters": 0, "duplicates": 1}
    assert len(published(gateway)) == 1
