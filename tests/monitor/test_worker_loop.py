"""The loop statistics operators read to tune a worker: one INFO line per interval, with the poll ages when known."""

from __future__ import annotations

import logging

from monitor.worker_loop import LoopStats


def test_the_line_names_records_transactions_and_how_old_polled_records_were(caplog):
    stats = LoopStats(every_s=0.0)
    stats.polled(0.010)
    stats.polled(0.030)
    stats.waited(0.004)
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=120, score_s=0.006, commit_s=0.008)
    assert len(caplog.messages) == 1
    line = caplog.messages[0]
    assert line.startswith("120 records in 1 transactions in 0 s: scoring 6 ms, commits 8 ms (max 8 ms)")
    assert line.endswith("; oldest record of a poll 20 ms old on average (max 30 ms); loop waited 4 ms for commits")


def test_without_poll_ages_the_line_has_no_poll_part(caplog):
    stats = LoopStats(every_s=0.0)
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=1, score_s=0.0, commit_s=0.1)
    assert caplog.messages == ["1 records in 1 transactions in 0 s: scoring 0 ms, commits 100 ms (max 100 ms)"]
