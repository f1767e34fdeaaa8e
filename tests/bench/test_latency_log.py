"""The worker loop's log lines as (d) lines them up with its delay by the second."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bench.latency_log import (
    Band,
    FetchLine,
    LoopLine,
    Second,
    band_label,
    bands,
    by_second,
    cost_ratios,
    covering_log,
    describe,
    describe_band,
    main,
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


def _second(p99_ms, scoring_ms, records=1000):
    return Second(0, p99_ms, None, LoopLine(0.0, records, 40, scoring_ms, 300))


def test_a_seconds_cost_is_measured_against_its_own_workers_median():
    rows = [_second(60.0, 20), _second(70.0, 25), _second(150.0, 40), Second(3, 300.0, None, None),
            _second(90.0, 0, records=0)]  # no line, and a line of an idle second: not costed
    ratios = cost_ratios(rows)
    assert [p99 for _, p99 in ratios] == [60.0, 70.0, 150.0]
    assert [ratio for ratio, _ in ratios] == pytest.approx([0.8, 1.0, 1.6])
    assert cost_ratios([Second(0, 50.0, None, None)]) == []


@pytest.mark.parametrize(("ratio", "label"), [
    (0.5, "< 1.1x"), (1.09, "< 1.1x"), (1.1, "1.1-1.2x"), (1.25, "1.2-1.3x"), (1.3, ">= 1.3x"), (4.0, ">= 1.3x"),
])
def test_a_ratio_falls_in_the_band_between_its_edges(ratio, label):
    assert band_label(ratio) == label


def test_bands_count_the_misses_of_the_goal_cheapest_band_first():
    ratios = [(1.0, 60.0), (0.9, 120.0), (1.05, 70.0), (1.5, 150.0), (1.4, 90.0), (1.35, 130.0)]
    assert bands(ratios) == [Band("< 1.1x", 3, 1, 70.0), Band(">= 1.3x", 3, 2, 130.0)]
    assert describe_band(Band(">= 1.3x", 21, 17, 145.0)) == (
        "scoring   >= 1.3x the worker's median:    21 seconds, p99 over 100 ms in   17 ( 81 %), median p99 145 ms")


def _result(tmp_path, name, p99s, scoring_ms):
    """A result of one (d) run whose worker log has a loop line for each second, and the folder of that log."""
    logs = tmp_path / f"logs-{name}"
    logs.mkdir()
    start = datetime(2026, 11, 29, 7, 51, 0, tzinfo=UTC)
    lines = [f"[2026-11-29 07:51:{second:02d},500] INFO monitor.worker_loop: 1000 records in 40 transactions in "
             f"1 s: scoring {ms} ms, commits 300 ms (max 9 ms)" for second, ms in enumerate(scoring_ms)]
    (logs / "w0.log").write_text("\n".join(lines) + "\n")
    latency = {"isolation": "read_committed", "p99_ms": max(p99s), "p99_by_second_ms": p99s,
               "windows_from_unix_s": start.timestamp()}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"worker_logs": str(logs), "d_latency": [
        {"variant": "commit as configured", "rate": 30000.0, "results": [latency]}]}))
    return path


def test_bands_of_several_results_add_their_seconds_up(tmp_path, capsys):
    one = _result(tmp_path, "one", [60.0, 65.0, 140.0], [20, 20, 30])
    two = _result(tmp_path, "two", [70.0, 110.0], [22, 22])
    assert main(["--bands", str(one), str(two)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2 result(s) with their logs, 5 seconds with a loop line",
        "scoring    < 1.1x the worker's median:     4 seconds, p99 over 100 ms in    1 ( 25 %), median p99 68 ms",
        "scoring   >= 1.3x the worker's median:     1 seconds, p99 over 100 ms in    1 (100 %), median p99 140 ms"]


def test_a_result_whose_logs_are_gone_is_left_out_of_the_bands(tmp_path, capsys):
    kept = _result(tmp_path, "kept", [60.0], [20])
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps({"worker_logs": str(tmp_path / "nowhere"), "d_latency": []}))
    assert main(["--bands", str(kept), str(gone)]) == 0
    captured = capsys.readouterr()
    assert "gone.json: no worker logs at" in captured.err
    assert "1 result(s) with their logs, 1 seconds with a loop line" in captured.out


def test_several_results_without_bands_is_a_usage_error(tmp_path, capsys):
    one = _result(tmp_path, "one", [60.0], [20])
    with pytest.raises(SystemExit) as exited:
        main([str(one), str(one)])
    assert exited.value.code == 2
    assert "several results need --bands" in capsys.readouterr().err


def test_one_result_lists_its_seconds(tmp_path, capsys):
    one = _result(tmp_path, "one", [60.0, 140.0], [20, 30])
    assert main([str(one)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "commit as configured, 30,000/s, read_committed: p99 140 ms; log w0.log"
    assert out[2].startswith("  1 s  p99   140 ms |  1,000 records,  40 transactions, scoring 30.0 us a record")
