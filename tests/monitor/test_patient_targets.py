"""set-targets argument handling: overrides, defaults and refused combinations (publishing is integration-tested)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from monitor import erasure
from monitor.patient_targets import config_from_args
from monitor.records import RecordError
from monitor.targets import PatientConfig

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    erasure.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["patient", *argv])


def test_overrides_become_the_config_record_and_the_rest_keep_defaults():
    config = config_from_args("pk_a", parse("set-targets", "pk_a", "--low", "75", "--high", "220"), NOW)
    back = PatientConfig.from_json(config.to_json())
    assert back.to_dict()["targets"] == {"low": 75.0, "high": 220.0}
    assert (back.targets.urgent_low, back.targets.very_high, back.updated_at) == (54.0, 250.0, NOW)


@pytest.mark.parametrize("argv", [("--low", "230"), ("--urgent-low", "80", "--low", "75"), ("--no-data-min", "0")])
def test_thresholds_that_cannot_work_together_are_refused(argv):
    with pytest.raises(RecordError):
        config_from_args("pk_a", parse("set-targets", "pk_a", *argv), NOW)


def test_erase_still_parses_as_before():
    args = parse("erase", "pk_a", "--bootstrap", "h:1")
    assert (args.action, args.patient, args.bootstrap, args.target_low) == ("erase", "pk_a", "h:1", None)
