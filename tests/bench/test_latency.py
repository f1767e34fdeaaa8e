"""(d)'s arithmetic: which alerts count, their delay from the newest reading they rest on, and the tail per window."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bench.latency import WINDOW_S, _RequestCount, percentile, summarize


@dataclass(frozen=True)
class Alerted:
    reading_ids: tuple[str, ...]


@pytest.mark.parametrize(("q", "want"), [(50, 2.0), (99, 4.0), (0, 1.0), (100, 4.0)])
def test_percentile_is_nearest_rank(q, want):
    assert percentile([4.0, 1.0, 3.0, 2.0], q) == want


def test_delay_is_from_the_newest_measured_reading_and_the_tail_is_split_by_send_window():
    sent = {"w": 0.0, "a": 1.0, "b": 1.5, "c": 1.0 + WINDOW_S + 0.1, "d": 1.0 + 2 * WINDOW_S + 0.2}
    seen = [(0.5, Alerted(("w",))),  # warm-up: not measured
            (1.55, Alerted(("a", "b"))),  # 50 ms after b, the newer of its readings
            (1.0 + WINDOW_S + 0.4, Alerted(("c",))),  # 300 ms
            (1.0 + 2 * WINDOW_S + 0.21, Alerted(("d",)))]  # 10 ms
    got = summarize("read_committed", seen, sent, measured={"a", "b", "c", "d"})  # type: ignore[arg-type]
    assert (got.samples, round(got.max_ms), round(got.p50_ms)) == (3, 300, 50)
    assert [round(x) for x in got.p99_by_window_ms] == [50, 300, 10]


def test_no_alert_gives_zeros_not_an_error():
    assert summarize("read_committed", [], {"a": 0.0}).samples == 0


def test_feeder_request_count_sums_the_brokers_but_not_the_bootstrap_entry():
    count = _RequestCount()
    count('{"brokers": {"127.0.0.1:9092/bootstrap": {"nodeid": -1, "tx": 3}, "localhost:9092/1": {"nodeid": 1, '
          '"tx": 40}, "localhost:9093/2": {"nodeid": 2, "tx": 2}}}')
    assert count.sent == 42
    count('{"brokers": {}}')
    assert count.sent == 0
