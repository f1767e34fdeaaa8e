"""Pseudonyms are stable per secret, differ across secrets, and never contain the identifier."""

from __future__ import annotations

import pytest

from monitor.pseudonym import PseudonymError, is_patient_key, patient_key

SECRET = b"0123456789abcdef-secret"


def test_stable_and_shaped():
    key = patient_key("MRN-0042", SECRET)
    assert key == patient_key(" MRN-0042 ", SECRET)
    assert is_patient_key(key)
    assert "0042" not in key


def test_depends_on_the_secret():
    assert patient_key("MRN-0042", SECRET) != patient_key("MRN-0042", SECRET + b"x")


@pytest.mark.parametrize(("enrolment", "secret", "message"), [
    ("MRN-1", b"short", "at least 16 bytes"),
    ("   ", SECRET, "empty enrolment id"),
])
def test_refuses_unsafe_input(enrolment, secret, message):
    with pytest.raises(PseudonymError, match=message):
        patient_key(enrolment, secret)


@pytest.mark.parametrize("value", ["MRN-0042", "pk_xyz", "pk_" + "g" * 32, "pk_" + "a" * 31])
def test_raw_identifiers_are_not_keys(value):
    assert not is_patient_key(value)
