"""(d)'s arithmetic: which alerts count, their delay from the newest reading they rest on, and the tail per window."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from bench.latency import (
    FEEDER_BYTES_PER_READING,
    WINDOW_S,
    Seen,
    _FeederStats,
    feeder_memory_error,
    mem_available,
    percentile,
    summarize,
)


@dataclass(frozen=True)
class Alerted:
    reading_ids: tuple[str, ...]


@pytest.mark.parametrize(("q", "want"), [(50, 2.0), (99, 4.0), (0, 1.0), (100, 4.0)])
def test_percentile_is_nearest_rank(q, want):
    assert percentile([4.0, 1.0, 3.0, 2.0], q) == want


def test_delay_is_from_the_newest_measured_reading_and_the_tail_is_split_by_send_window():
    sent = {"w": 0.0, "a": 1.0, "b": 1.5, "c": 1.0 + WINDOW_S + 0.1, "d": 1.0 + 2 * WINDOW_S + 0.2}
    seen = [Seen(0.5, None, Alerted(("w",))),  # warm-up: not measured
            Seen(1.55, None, Alerted(("a", "b"))),  # 50 ms after b, the newer of its readings
            Seen(1.0 + WINDOW_S + 0.4, None, Alerted(("c",))),  # 300 ms
            Seen(1.0 + 2 * WINDOW_S + 0.21, None, Alerted(("d",)))]  # 10 ms
    got = summarize("read_committed", seen, sent, measured={"a", "b", "c", "d"})  # type: ignore[arg-type]
    assert (got.samples, round(got.max_ms), round(got.p50_ms)) == (3, 300, 50)
    assert [round(x) for x in got.p99_by_window_ms] == [50, 300, 10]


def test_the_tail_by_second_starts_at_the_first_measured_reading_in_unix_time():
    sent = {"w": 0.0, "a": 10.0, "b": 10.4, "c": 12.5}
    seen = [Seen(0.2, None, Alerted(("w",))), Seen(10.05, 10.04, Alerted(("a",))),
            Seen(10.6, 10.5, Alerted(("b",))), Seen(12.52, None, Alerted(("c",)))]  # c: no record timestamp
    got = summarize("read_committed", seen, sent, measured={"a", "b", "c"},  # type: ignore[arg-type]
                    wall_minus_perf=1_700_000_000.0)
    assert got.windows_from_unix_s == 1_700_000_010.0
    assert [round(x) for x in got.p99_by_second_ms] == [200, 0, 20]  # no reading sent in the second second
    assert [round(x) for x in got.after_send_p99_by_second_ms] == [100, 0, 0]


def test_delay_splits_where_the_worker_produced_the_alert_and_the_tail_names_its_leg():
    sent = {f"r{i}": float(i) for i in range(200)}
    # 197 alerts 20 ms to the worker's send and 30 after it; the three slowest wait 200 ms for their transaction
    seen = [Seen(i + (0.22 if i >= 197 else 0.02) + 0.03, i + (0.22 if i >= 197 else 0.02), Alerted((f"r{i}",)))
            for i in range(200)]
    seen.append(Seen(300.5, None, Alerted(("r199",))))  # a record without a timestamp counts in the delay only
    got = summarize("read_committed", seen, sent)
    assert got.samples == 201
    assert (round(got.to_send_p50_ms), round(got.to_send_p99_ms)) == (20, 220)
    assert (round(got.after_send_p50_ms), round(got.after_send_p99_ms)) == (30, 30)
    assert (round(got.tail_to_send_ms), round(got.tail_after_send_ms)) == (220, 30)


def test_no_alert_gives_zeros_not_an_error():
    assert summarize("read_committed", [], {"a": 0.0}).samples == 0


def test_feeder_request_count_sums_the_brokers_but_not_the_bootstrap_entry():
    count = _FeederStats()
    count('{"brokers": {"127.0.0.1:9092/bootstrap": {"nodeid": -1, "tx": 3}, "localhost:9092/1": {"nodeid": 1, '
          '"tx": 40}, "localhost:9093/2": {"nodeid": 2, "tx": 2}}}')
    assert count.sent == 42
    count('{"brokers": {}}')
    assert count.sent == 0


def test_the_feeder_keeps_its_slowest_interval_of_produce_round_trips_and_queued_records():
    stats = _FeederStats()
    for rtt_max, rtt_p99, queued in ((40_000, 9_000, 21_000), (12_000, 11_000, 20_500)):
        broker = {"nodeid": 1, "tx": 5, "rtt": {"cnt": 5, "max": rtt_max, "p99": rtt_p99},
                  "int_latency": {"p99": queued}}
        stats(json.dumps({"brokers": {"b/1": broker}}))
    assert (stats.sent, stats.rtt_max_ms, stats.rtt_p99_ms, stats.queued_p99_ms) == (5, 40.0, 11.0, 21.0)


def test_the_way_to_the_worker_splits_where_the_broker_appended_the_newest_reading():
    sent = {f"r{i}": float(i) for i in range(100)} | {"old": -1.0}  # older than each: never the newest
    appended = {f"r{i}": i + (0.09 if i == 99 else 0.02) for i in range(100)}  # r99 waited 90 ms for the broker
    seen = [Seen(i + (0.2 if i == 99 else 0.15), i + 0.1, Alerted(("old", f"r{i}"))) for i in range(100)]
    seen.append(Seen(100.0, 99.99, Alerted(("missing",))))  # no stamp: not an alert of the feed
    got = summarize("read_committed", seen, sent, appended=appended)  # type: ignore[arg-type]
    assert got.samples == 100
    assert (round(got.to_broker_p50_ms), round(got.to_broker_p99_ms), round(got.tail_to_broker_ms)) == (20, 20, 90)
    assert (round(got.to_send_p50_ms), round(got.after_send_p50_ms)) == (100, 50)


def test_without_append_times_the_broker_leg_is_zero():
    got = summarize("read_committed", [Seen(1.1, 1.05, Alerted(("a",)))], {"a": 1.0})  # type: ignore[arg-type]
    assert (got.samples, got.to_broker_p50_ms, got.tail_to_broker_ms) == (1, 0.0, 0.0)


GIB = 2**30


def test_a_feed_that_fits_in_the_memory_available_goes_ahead():
    assert feeder_memory_error(30_000, 20.0, 5.0, 20 * GIB) is None
    assert feeder_memory_error(30_000, 20.0, 5.0, None) is None  # unknown: the run goes ahead as before


def test_a_feed_the_kernel_would_kill_is_refused_with_the_longest_that_fits():
    # a 60-s feed at 30,000/s and its 5-s warm-up: killed at 16.4 GB on a 24 GB box
    needed = 1_950_000 * FEEDER_BYTES_PER_READING / GIB
    most_s = int(0.8 * 16 * GIB / (FEEDER_BYTES_PER_READING * 30_000) - 5)
    assert feeder_memory_error(30_000, 60.0, 5.0, 16 * GIB) == (
        f"the paced feeder of 1,950,000 readings needs about {needed:.1f} GiB and 16.0 GiB are available: "
        f"give --latency-seconds {most_s} or less at this rate")
    assert most_s == 33
    assert feeder_memory_error(30_000, 60.0, 5.0, 1 * GIB).endswith("the warm-up alone does not fit: free some memory")


def test_the_memory_available_is_the_kernels_estimate(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24684096 kB\nMemFree:        16326544 kB\nMemAvailable:   16244240 kB\n")
    assert mem_available(meminfo) == 16244240 * 1024
    meminfo.write_text("MemTotal:       24684096 kB\n")
    assert mem_available(meminfo) is None
    assert mem_available(tmp_path / "nowhere") is None
