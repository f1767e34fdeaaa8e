"""Targets overrides and the patient-config record."""

from __future__ import annotations

import pytest

from monitor.records import RecordError
from monitor.targets import DEFAULT_TARGETS, PatientConfig, Targets, with_overrides


def test_config_round_trip_carries_only_overrides():
    config = PatientConfig("p1", with_overrides(DEFAULT_TARGETS, {"low": 75, "high": 220}), model_ref="m1")
    raw = config.to_json()
    assert b'"targets":{"low":75.0,"high":220.0}' in raw
    assert PatientConfig.from_json(raw) == config


@pytest.mark.parametrize("overrides", [{"low": 40}, {"nope": 1}, {"high": "x"}, {"low": float("nan")}])
def test_bad_overrides_are_refused(overrides):
    with pytest.raises(RecordError):
        with_overrides(Targets(), overrides)


@pytest.mark.parametrize("raw", [b"nope", b'{"type": "x"}', b'{"type": "patient_config", "schema_version": 1}'])
def test_bad_config_records_are_refused(raw):
    with pytest.raises(RecordError):
        PatientConfig.from_json(raw)
