"""The bench's paced feeder on the real broker: every reading delivered and stamped, stamps handed over on request,
and what is to run before the feed (the broker's collection) run once, before its first reading."""

import time

import orjson
import pytest

from bench import workload
from bench.latency import PacedFeeder
from monitor.topics import READINGS, namespaced
from tests.integration.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def test_the_feeder_delivers_every_reading_at_its_pace_and_hands_its_stamps_over_when_asked(kafka_bootstrap, namespace):
    readings = workload.readings(workload.patients(20), 300)
    topic = namespaced(READINGS, namespace)

    before_feed: list[float] = []
    feeder = PacedFeeder(kafka_bootstrap, topic, readings, rate=1_000.0, pids={},
                         before_feed=lambda: before_feed.append(time.perf_counter()))
    load = feeder.delivered()
    stamps = feeder.stamps()

    assert {"machine_busy", "feeder_cores", "feeder_requests_per_s", "feeder_rtt_p99_ms"} <= load.keys()
    assert list(stamps) == [r.reading_id for r in readings]
    sent = list(stamps.values())
    assert sent == sorted(sent)
    assert len(before_feed) == 1 and before_feed[0] < sent[0]  # perf_counter: one monotonic clock for both processes
    assert 0.25 <= sent[-1] - sent[0] < 5.0  # 300 readings at 1,000/s: paced, not sent at once
    delivered = read_topic(kafka_bootstrap, topic, min_count=len(readings), settle_s=0.5)
    assert sorted(orjson.loads(value)["reading_id"] for _, value in delivered) == sorted(stamps)
