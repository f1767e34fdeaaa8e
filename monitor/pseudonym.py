"""Pseudonymous patient keys: HMAC-SHA256 of the enrolment id, so topics never carry who a patient is."""

from __future__ import annotations

import hashlib
import hmac

KEY_PREFIX = "pk_"


class PseudonymError(ValueError):
    """Raised when a secret or enrolment id cannot produce a safe pseudonym."""


def patient_key(enrolment_id: str, secret: bytes) -> str:
    """Returns the stable pseudonym of one enrolment id under one deployment secret."""
    if len(secret) < 16:
        raise PseudonymError("the pseudonym secret must be at least 16 bytes (set VIGIL_PSEUDONYM_SECRET)")
    cleaned = enrolment_id.strip()
    if not cleaned:
        raise PseudonymError("empty enrolment id")
    digest = hmac.new(secret, cleaned.encode("utf-8"), hashlib.sha256).hexdigest()
    return KEY_PREFIX + digest[:32]


def is_patient_key(value: str) -> bool:
    """True when a string has the shape of a pseudonym (used to refuse raw identifiers on topics)."""
    body = value[len(KEY_PREFIX):]
    return value.startswith(KEY_PREFIX) and len(body) == 32 and all(c in "0123456789abcdef" for c in body)
