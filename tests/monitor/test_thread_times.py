"""A thread's /proc counters: parsed from literal lines, and read for this very thread."""

from __future__ import annotations

import threading

import pytest

from monitor import thread_times
from monitor.thread_times import ThreadTimes

STAT = ("30156 (cat) R 30153 30153 28979 0 -1 4194304 99 0 3 0 250 40 0 0 20 0 1 0 5880780 3133440 381 "
        "18446744073709551615 94265079209984 94265079229865 140725178674624 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")


@pytest.mark.parametrize(("stat", "schedstat", "expected"), [
    pytest.param(STAT, "78134027 8642843 213\n", ThreadTimes(2.5, 0.4, 99, 3, 0.008642843), id="plain"),
    pytest.param(STAT.replace("(cat)", "(rdk:broker) 1 (x)"), "1 2000000000 3",
                 ThreadTimes(2.5, 0.4, 99, 3, 2.0), id="a thread name with spaces and parentheses"),
])
def test_proc_lines_become_thread_times(stat, schedstat, expected):
    assert thread_times.parse(stat, schedstat, ticks_per_s=100) == expected


def test_a_difference_is_what_happened_in_between():
    assert ThreadTimes(2.5, 0.5, 120, 3, 0.75) - ThreadTimes(2.0, 0.25, 100, 3, 0.5) == ThreadTimes(0.5, 0.25, 20, 0,
                                                                                                   0.25)


def test_this_thread_is_read_and_its_work_counts():
    before = thread_times.read(threading.get_native_id())
    if before is None:
        pytest.skip("no /proc schedstat here")
    sum(range(3_000_000))
    after = thread_times.read(threading.get_native_id())
    assert after is not None
    assert after.user_s + after.system_s > before.user_s + before.system_s


def test_a_thread_that_is_not_there_reads_as_none():
    assert thread_times.read(2**31 - 1) is None
