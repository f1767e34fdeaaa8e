"""The worker loop's log lines as (d) lines them up with its delay by the second."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.latency_log import (
    FetchLine,
    LoopLine,
    Second,
    by_second,
    covering_log,
    describe,
    parse_fetch_line,
    parse_line,
)

FULL = ("[2026-11-29 07:51:27,939] INFO monitor.worker_loop: 30161 records in 34 transactions in 1 s: scoring 808 ms, "
        "commits 276 ms (max 16 ms); oldest record of a poll 12 ms old on average (max 74 ms); loop waited 0 ms for "
        "commits; longest turn 68 ms (1794 records, 64 ms on the CPU, begun 9 ms after the turn before, 7 of them "
        "polling); turns off the CPU 43 ms; 1 full garbage collection(s), 34 ms; loop busy 76 % (spinning)")
BARE = "[2026-11-29 07:51:28,000] INFO monitor.worker_loop: 0 records in 0 transactions in 10 s: scoring 0 ms, " \
       "commits 0 ms (max 0 ms)"
AT = datetime(2026, 11, 29, 7, 51, 27, 939_000, tzinfo=UTC).timestamp()
WATCHED = FULL + ("; loop thread user 790 ms, kernel 30 ms, 1204 page faults (0 major), waited 41 ms for its core")


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(FULL, LoopLine(AT, 30161, 34, 808, 276, oldest_ms=74, longest_turn_ms=68, longest_turn_records=1794,
                                collection_ms=34, busy_pct=76), id="every part"),
    pytest.param(WATCHED, LoopLine(AT, 30161, 34, 808, 276, oldest_ms=74, longest_turn_ms=68,
                                   longest_turn_records=1794, collection_ms=34, busy_pct=76, kernel_ms=30,
                                   page_faults=1204, core_wait_ms=41), id="with the loop thread's counters"),
    pytest.param(BARE, LoopLine(datetime(2026, 11, 29, 7, 51, 28, tzinfo=UTC).timestamp(), 0, 0, 0, 0),
                 id="an idle loop's line"),
    pytest.param("[2026-11-29 07:51:28,000] INFO monitor.rdkafka_worker: assigned partitions [0]", None,
                 id="another line"),
    pytest.param("vigil rdkafka worker: ready", None, id="not a log line"),
])
def test_a_log_line_becomes_the_loop_line_it_is(text, expected):
    assert parse_line(text) == expected


def test_each_second_takes_the_first_line_after_it_began():
    lines = [LoopLine(100.5, 1, 1, 1, 1), LoopLine(101.5, 2, 2, 2, 2), LoopLine(104.5, 3, 3, 3, 3)]
    rows = by_second([50.0, 60.0, 70.0], 100.0, lines, after_send_p99_by_second_ms=[9.0, 30.0])
    assert rows == [Second(0, 50.0, 9.0, lines[0]), Second(1, 60.0, 30.0, lines[1]), Second(2, 70.0, None, None)]


def test_a_second_reads_as_its_delay_its_commit_and_the_loops_line():
    line = LoopLine(0.0, 30161, 34, 808, 276, oldest_ms=74, longest_turn_ms=68, longest_turn_records=1794,
                    collection_ms=34, busy_pct=76)
    assert describe(Second(12, 146.0, 21.0, line)) == (
        " 12 s  p99   146 ms (  21 after the send) | 30,161 records,  34 transactions, scoring 26.8 us a record, "
        "oldest   74 ms, longest turn   68 ms (1794 records), busy 76 %, full collection 34 ms")
    assert describe(Second(3, 60.0, None, None)) == "  3 s  p99    60 ms"


def test_a_second_with_the_loop_threads_counters_names_them():
    line = LoopLine(0.0, 30161, 34, 808, 276, busy_pct=76, kernel_ms=30, page_faults=1204, core_wait_ms=41)
    assert describe(Second(12, 146.0, 21.0, line)).endswith(
        "(- records), busy 76 %, kernel 30 ms, 1204 faults, 41 ms waiting for the core")


def test_the_covering_log_is_the_one_that_scored_the_feeds_first_second(tmp_path):
    early, late = tmp_path / "a.log", tmp_path / "b.log"
    logs = {early: [LoopLine(100.5, 9000, 1, 1, 1), LoopLine(200.5, 0, 0, 0, 0)],  # idle beside the later feed
            late: [LoopLine(190.0, 5, 1, 1, 1), LoopLine(200.5, 8000, 1, 1, 1)], tmp_path / "c.log": []}
    assert (covering_log(logs, 100.0), covering_log(logs, 200.0), covering_log(logs, 300.0)) == (early, late, None)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("[2026-11-29 07:51:28,000] INFO monitor.rdkafka_worker: librdkafka consumer vigil-eos#consumer-2: "
                 "broker 1: 87 round trips, avg 10.9 p99 24.0 max 201.0 ms, 1 unanswered; 152 records fetched and not "
                 "yet polled", FetchLine(datetime(2026, 11, 29, 7, 51, 28, tzinfo=UTC).timestamp(), 201.0, 152),
                 id="the consumer's line"),
    pytest.param("[2026-11-29 07:51:28,000] INFO monitor.rdkafka_worker: librdkafka producer vigil-eos#producer-1: "
                 "broker 1: 40 round trips, avg 1.0 p99 2.9 max 3.0 ms, 0 unanswered; records queued p99 0.1 ms, "
                 "requests before the socket p99 0.1 ms", None, id="the producer's line"),
    pytest.param("[2026-11-29 07:51:28,000] INFO monitor.rdkafka_worker: librdkafka consumer c: no broker connection; "
                 "0 records fetched and not yet polled", None, id="not connected: no slowest fetch"),
])
def test_the_consumers_statistics_line_gives_its_slowest_fetch_and_the_records_not_yet_polled(text, expected):
    assert parse_fetch_line(text) == expected


def test_a_second_with_statistics_names_its_slowest_fetch():
    fetch = FetchLine(100.5, 201.0, 152)
    row = by_second([300.0], 100.0, [], fetches=[fetch])[0]
    assert row == Second(0, 300.0, None, None, fetch)
    assert describe(Second(0, 300.0, None, LoopLine(0.0, 1000, 1, 20, 5), fetch)).endswith(
        "; fetch max 201 ms, 152 unpolled")


def test_a_second_with_statistics_but_no_loop_line_still_names_its_slowest_fetch():
    # VIGIL_RDKAFKA_STATS=1 without VIGIL_LOOP_STATS=1: a statistics line every second, a loop line every ten
    assert describe(Second(4, 250.0, None, None, FetchLine(104.5, 17.0, 27_108))) == (
        "  4 s  p99   250 ms; fetch max 17 ms, 27108 unpolled")
