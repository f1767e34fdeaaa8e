"""Enrolment store: consent is required, pseudonyms only, last sequence survives a reopen."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from device_gateway.enrolment import Consent, DeviceInfo, Enrolment, EnrolmentStore, Refusal
from monitor.pseudonym import patient_key

SECRET = b"0123456789abcdef-test-secret"
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
INFO = DeviceInfo(manufacturer="Vigil Emu", model="CGM-1", serial="SN42", name="vigil-cgm")


@pytest.fixture
def store(tmp_path: Path) -> EnrolmentStore:
    return EnrolmentStore(tmp_path / "gw.db", now=lambda: T0)


@pytest.mark.parametrize("consent", [None, Consent(given=False, by="nurse"), Consent(given=True, by="  ")])
def test_enrolment_without_consent_is_refused(store: EnrolmentStore, consent: Consent | None) -> None:
    result = store.enrol("f0:00:00:00:00:01/P", enrolment_id="E-1", secret=SECRET, consent=consent, info=INFO)
    assert isinstance(result, Refusal)
    assert result.reason.startswith("no_consent")
    assert store.get("F0:00:00:00:00:01") is None


def test_enrolment_records_pseudonym_consent_and_device_info(store: EnrolmentStore) -> None:
    result = store.enrol(
        "f0:00:00:00:00:01/P", enrolment_id="E-1", secret=SECRET, consent=Consent(True, "Nurse A"), info=INFO
    )
    assert isinstance(result, Enrolment)
    assert result.address == "F0:00:00:00:00:01"
    assert result.patient_key == patient_key("E-1", SECRET)
    assert "E-1" not in result.patient_key
    assert result.consent and result.consent_by == "Nurse A" and result.consent_at == T0
    assert result.info == INFO
    assert result.device_id == "ble:vigil-emu:SN42"
    assert result.last_seq is None


def test_device_id_falls_back_to_address(store: EnrolmentStore) -> None:
    result = store.enrol("aa:bb:cc:dd:ee:ff", enrolment_id="E-2", secret=SECRET,
                         consent=Consent(True, "n"), info=DeviceInfo())
    assert isinstance(result, Enrolment)
    assert result.device_id == "ble:AA:BB:CC:DD:EE:FF"


def test_last_sequence_only_moves_forward_and_survives_reopen(tmp_path: Path) -> None:
    store = EnrolmentStore(tmp_path / "gw.db", now=lambda: T0)
    store.enrol("F0:00:00:00:00:02", enrolment_id="E-1", secret=SECRET, consent=Consent(True, "n"), info=INFO)
    store.record_sequence("f0:00:00:00:00:02", 7)
    store.record_sequence("F0:00:00:00:00:02", 3)
    assert store.last_sequence("F0:00:00:00:00:02") == 7
    store.close()
    reopened = EnrolmentStore(tmp_path / "gw.db", now=lambda: T0)
    assert reopened.last_sequence("F0:00:00:00:00:02") == 7
    assert [e.address for e in reopened.all()] == ["F0:00:00:00:00:02"]


def test_revoke_consent(store: EnrolmentStore) -> None:
    store.enrol("F0:00:00:00:00:03", enrolment_id="E-1", secret=SECRET, consent=Consent(True, "n"), info=INFO)
    assert store.revoke_consent("F0:00:00:00:00:03")
    enrolment = store.get("F0:00:00:00:00:03")
    assert enrolment is not None and not enrolment.consent
    assert not store.revoke_consent("F0:00:00:00:00:99")


def test_re_enrolment_to_another_patient_resets_sequence(store: EnrolmentStore) -> None:
    store.enrol("F0:00:00:00:00:04", enrolment_id="E-1", secret=SECRET, consent=Consent(True, "n"), info=INFO)
    store.record_sequence("F0:00:00:00:00:04", 9)
    again = store.enrol("F0:00:00:00:00:04", enrolment_id="E-1", secret=SECRET,
                        consent=Consent(True, "n"), info=INFO)
    assert isinstance(again, Enrolment) and again.last_seq == 9
    other = store.enrol("F0:00:00:00:00:04", enrolment_id="E-2", secret=SECRET,
                        consent=Consent(True, "n"), info=INFO)
    assert isinstance(other, Enrolment) and other.last_seq is None
