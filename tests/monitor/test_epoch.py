"""monitor.epoch: whole epoch seconds, the compiled fast path (when built) against the definition."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor import epoch, frozen

COMPILED = epoch.seconds is not epoch.plain_seconds


def test_the_compiled_half_comes_with_the_rest_of_the_hot_path():
    frozen_compiled = frozen.Frozen.__module__ == "monitor.frozen_init"
    assert frozen_compiled == COMPILED


@pytest.mark.parametrize(("at", "expected"), [
    (datetime(1970, 1, 1, tzinfo=UTC), 0),
    (datetime(2026, 11, 27, 12, 5, 0, tzinfo=UTC), 1_795_781_100),
    (datetime(2026, 11, 27, 12, 5, 0, 999_999, tzinfo=UTC), 1_795_781_100),
    (datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), 1_709_251_199),
    (datetime(2000, 3, 1, tzinfo=UTC), 951_868_800),
    (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), -1),
    (datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), 0),  # truncated toward zero, as int() does
    (datetime(1, 1, 1, tzinfo=UTC), -62_135_596_800),
    (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), 253_402_300_799),
    (datetime(2106, 2, 7, 6, 28, 15, 999_999, tzinfo=UTC), 4_294_967_295),  # the last exact microsecond range
    (datetime(2026, 11, 27, 14, 5, 0, tzinfo=timezone(timedelta(hours=2))), 1_795_781_100),  # not UTC: plain path
])
def test_seconds_are_the_truncated_timestamp(at, expected):
    assert epoch.seconds(at) == expected == epoch.plain_seconds(at)
    assert type(epoch.seconds(at)) is int


def test_any_utc_time_gives_what_the_definition_gives():
    rng = random.Random(17)
    lowest, highest = datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)
    span = int((highest - lowest).total_seconds())
    recent = datetime(2020, 1, 1, tzinfo=UTC)
    for _ in range(20_000):
        at = (lowest + timedelta(seconds=rng.randrange(span)) if rng.random() < 0.5
              else recent + timedelta(seconds=rng.randrange(400_000_000)))
        at = at.replace(microsecond=rng.choice((0, 1, 500_000, 999_999, rng.randrange(1_000_000))))
        assert epoch.seconds(at) == epoch.plain_seconds(at), at


def test_a_subclass_of_datetime_takes_the_plain_path():
    class Stamp(datetime):
        def timestamp(self) -> float:
            return 42.9

    assert epoch.seconds(Stamp(2026, 1, 1, tzinfo=UTC)) == 42
