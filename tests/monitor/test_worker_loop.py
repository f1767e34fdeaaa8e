"""What the batch loops share: the statistics operators read to tune a worker (one INFO line per interval, with the
poll ages when known), the loop's own full collections, and the next transaction gathered while one commits."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable

import pytest

from monitor.thread_times import ThreadTimes
from monitor.worker_core import ALERTS, STATE, Out
from monitor.worker_loop import BusyShare, FullCollections, LoopStats, NextTransaction, SpreadTicks, quick_handoffs


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


@pytest.fixture
def python_gc():
    """Gives the test Python's collector back as it found it."""
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_full_collections_run_when_due_and_not_on_their_own(python_gc):
    clock = Clock()
    collections = FullCollections(60.0, clock)
    collections.install()
    assert gc.get_threshold() == (FullCollections.YOUNG, FullCollections.NEVER, FullCollections.NEVER)
    assert gc.get_freeze_count() > 0  # what start-up loaded is out of the way
    assert collections.collect() is None
    clock.now += 60
    took = collections.collect()
    assert took is not None and took.seconds >= 0 and took.unreachable >= 0
    assert collections.collect() is None and collections.next == clock.now + 60


def test_a_full_collection_says_what_it_found_unreachable(python_gc):
    clock = Clock()
    collections = FullCollections(60.0, clock)
    collections.install()
    a: list[object] = []
    a.append([a])  # a cycle: reference counting alone never frees it
    del a
    clock.now += 60
    took = collections.collect()
    assert took is not None and took.unreachable >= 2


def test_zero_seconds_leaves_pythons_collector_alone(python_gc):
    before = gc.get_threshold()
    clock = Clock()
    collections = FullCollections(0.0, clock)
    collections.install()
    clock.now += 3600
    assert gc.get_threshold() == before and collections.collect() is None


def test_the_line_counts_the_loops_full_collections(caplog):
    stats = LoopStats(every_s=0.0)
    stats.polled(0.001)
    stats.collected(0.080, unreachable=3)
    stats.collected(0.020, unreachable=2)
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
    assert caplog.messages[0].endswith("; 2 full garbage collection(s), 80 ms, 5 unreachable objects found")


def test_the_line_names_the_loops_longest_turn_and_its_records(caplog):
    stats = LoopStats(every_s=0.0)
    stats.turn(records=300, seconds=0.008)
    stats.turn(records=4000, seconds=0.104)
    stats.turn(records=5000, seconds=0.090)  # more records, a shorter turn: not the longest
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
        stats.txn(records=1, score_s=0.0, commit_s=0.0)  # a new line starts counting again
    assert caplog.messages[0].endswith("; longest turn 104 ms (4000 records)")
    assert "longest turn" not in caplog.messages[-1]


@pytest.mark.parametrize(("turns", "tail"), [
    pytest.param([(300, 0.008, 0.007, None, 0.0), (339, 0.038, 0.012, None, 0.0)],  # the loop ran 12 ms of its 38
                 "; longest turn 38 ms (339 records, 12 ms on the CPU); turns off the CPU 27 ms", id="on the CPU"),
    pytest.param([(300, 0.008, 0.008, 0.004, 0.004), (2452, 0.095, 0.091, 0.080, 0.072)],
                 "; longest turn 95 ms (2452 records, 91 ms on the CPU, begun 80 ms after the turn before, 72 of them "
                 "polling); turns off the CPU 4 ms", id="after the turn before"),
])
def test_the_line_says_what_the_longest_turn_was_on_the_cpu_and_what_came_before_it(caplog, turns, tail):
    stats = LoopStats(every_s=0.0)
    for records, seconds, cpu_s, before_s, polling_s in turns:
        stats.turn(records, seconds, cpu_s, before_s, polling_s)
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
    assert caplog.messages[0].endswith(tail)


def test_the_line_names_the_loops_busy_share_and_whether_it_spins(caplog):
    stats = LoopStats(every_s=0.0)
    stats.busy(0.624, spinning=True)
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
        stats.busy(0.2, spinning=False)
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
    assert [m.rpartition("; ")[2] for m in caplog.messages] == ["loop busy 62 % (spinning)", "loop busy 20 %"]


@pytest.fixture
def busy_share():
    """A BusyShare with threshold `on` on a clock the test moves; work(seconds busy, seconds passed) feeds it."""

    def factory(on: float) -> tuple[BusyShare, Callable[[float, float], bool]]:
        clock = Clock()
        share = BusyShare(on, window_s=1.0, clock=clock)

        def work(busy_s: float, passed_s: float) -> bool:
            clock.now += passed_s
            return share.worked(busy_s)
        return share, work
    return factory


def test_the_loop_spins_once_a_whole_window_was_busy_enough(busy_share):
    share, work = busy_share(0.5)
    assert not share.spinning
    assert not work(0.4, 0.6)
    assert (share.share, share.spinning) == (0.0, False)  # the window is not over: no decision yet
    assert work(0.2, 0.4)
    assert share.share == pytest.approx(0.6)
    assert share.spinning


def test_spinning_stops_only_below_half_the_threshold(busy_share):
    share, work = busy_share(0.5)
    work(0.7, 1.0)
    work(0.3, 1.0)  # spinning made the loop's work cheaper: still above 0.25, it goes on
    assert share.spinning
    work(0.2, 1.0)
    assert (share.share, share.spinning) == (pytest.approx(0.2), False)
    work(0.3, 1.0)  # and once stopped, it takes the whole threshold again
    assert not share.spinning


def test_an_idle_loop_stops_spinning_on_the_windows_its_empty_polls_close(busy_share):
    share, work = busy_share(0.5)
    work(0.9, 1.0)
    for _ in range(11):
        work(0.0, 0.1)
    assert (share.share, share.spinning) == (0.0, False)


def test_a_threshold_of_zero_spins_at_any_load(busy_share):
    share, work = busy_share(0.0)
    assert share.spinning
    work(0.0, 5.0)
    assert share.spinning


def test_the_next_transaction_gathers_outputs_in_order_and_the_latest_offset_of_each_partition():
    gathering: NextTransaction[tuple[str, int, int, str]] = NextTransaction(limit=100)
    assert not gathering
    first, second, state = Out(ALERTS, b"p1", b"a1"), Out(ALERTS, b"p2", b"a2"), Out(STATE, b"p1", b"s1", through=41)
    gathering.add([(1, first)], [(("readings", 1), ("readings", 1, 40, "")), (("acks", 1), ("acks", 1, 3, ""))],
                  records=30, score_s=0.5)
    gathering.add([(2, second), (1, state)], [(("readings", 1), ("readings", 1, 42, "vigil-replay-from=7"))],
                  records=12, score_s=0.25)
    assert gathering and not gathering.full()
    assert gathering.take() == ([(1, first), (2, second), (1, state)],
                                [("readings", 1, 42, "vigil-replay-from=7"), ("acks", 1, 3, "")], 42, 0.75)
    assert not gathering and gathering.take() == ([], [], 0, 0.0)  # taking starts anew


def test_offsets_alone_are_something_to_commit_and_the_limit_says_when_to_stop_gathering():
    gathering: NextTransaction[str] = NextTransaction(limit=50)
    gathering.add([], [(("readings", 0), "moved replay offset")], records=0, score_s=0.0)
    assert gathering and not gathering.full()
    gathering.add([], [], records=50, score_s=0.0)
    assert gathering.full()


def test_a_limit_of_zero_waits_for_every_commit():
    gathering: NextTransaction[str] = NextTransaction(limit=0)
    assert gathering.full()


def test_quick_handoffs_sets_the_switch_interval_and_returns_the_one_before():
    before = sys.getswitchinterval()
    try:
        assert quick_handoffs(0.0005) == before
        assert sys.getswitchinterval() == pytest.approx(0.0005)
        assert quick_handoffs(0.004) == pytest.approx(0.0005)
    finally:
        sys.setswitchinterval(before)


def patients_of(*names: str):
    """A `patients()` for SpreadTicks that counts its calls: partition 0 holds `names`."""
    calls: list[int] = []

    def patients() -> list[tuple[int, str]]:
        calls.append(1)
        return [(0, name) for name in names]
    return patients, calls


def test_no_patient_is_checked_before_the_first_period_is_over():
    ticks = SpreadTicks(60.0, now_s=1000.0)
    patients, calls = patients_of("a", "b")
    assert ticks.due(1000.0, patients) == []
    assert ticks.due(1059.9, patients) == []
    assert calls == []  # the patients are not even listed


def test_a_round_hands_out_its_patients_in_shares_of_the_period():
    ticks = SpreadTicks(60.0, now_s=0.0)
    patients, calls = patients_of(*"abcdef")
    assert ticks.due(60.0, patients) == []  # the round begins: nothing owed yet
    assert ticks.due(60.1, patients) == [(0, "a")]  # each patient's share begins: its check is owed
    assert ticks.due(70.0, patients) == []  # a sixth of the period: still one of six
    assert ticks.due(70.1, patients) == [(0, "b")]
    assert ticks.due(95.0, patients) == [(0, "c"), (0, "d")]  # 35 s: ceil(3.5) = 4 owed
    assert ticks.due(119.9, patients) == [(0, "e"), (0, "f")]
    assert calls == [1]  # listed once, when the round began


def test_a_new_round_first_hands_out_what_the_last_one_left():
    ticks = SpreadTicks(60.0, now_s=0.0)
    patients, calls = patients_of("a", "b", "c")
    ticks.due(60.0, patients)
    assert ticks.due(80.0, patients) == [(0, "a")]
    assert ticks.due(121.0, patients) == [(0, "b"), (0, "c"), (0, "a")]  # the rest, then 1 s of the new round
    assert len(calls) == 2


def test_a_loop_late_by_more_than_a_period_skips_no_patient_and_keeps_its_schedule():
    ticks = SpreadTicks(10.0, now_s=0.0)
    patients, _ = patients_of("a", "b")
    ticks.due(10.0, patients)
    assert ticks.due(35.0, patients) == [(0, "a"), (0, "b"), (0, "a")]  # the round that began at 30: half owed
    assert ticks.due(39.0, patients) == [(0, "b")]


def test_the_line_says_what_the_loop_thread_did_since_the_line_before(caplog):
    readings = iter([ThreadTimes(10.0, 1.0, 500, 0, 2.0), ThreadTimes(10.7, 1.04, 1_734, 1, 2.012),
                     ThreadTimes(11.3, 1.05, 1_800, 1, 2.02)])
    stats = LoopStats(every_s=0.0)
    stats.watch(lambda: next(readings))
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
    assert [m.partition("; ")[2] for m in caplog.messages] == [
        "loop thread user 700 ms, kernel 40 ms, 1234 page faults (1 major), waited 12 ms for its core",
        "loop thread user 600 ms, kernel 10 ms, 66 page faults (0 major), waited 8 ms for its core"]


def test_an_unreadable_loop_thread_leaves_its_part_out(caplog):
    readings = iter([ThreadTimes(10.0, 1.0, 500, 0, 2.0), None, ThreadTimes(10.7, 1.04, 1_734, 1, 2.012)])
    stats = LoopStats(every_s=0.0)
    stats.watch(lambda: next(readings))
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
        stats.txn(records=1, score_s=0.0, commit_s=0.0)  # nothing to compare with: the line before had none
    assert not any("loop thread" in m for m in caplog.messages)


def test_a_long_turn_comes_with_the_turns_before_it(caplog):
    stats = LoopStats(every_s=0.0)
    stats.turn(records=0, seconds=0.0)  # before the trace's reach: LoopStats.TRACE_TURNS turns before the long one
    for _ in range(LoopStats.TRACE_TURNS - 2):
        stats.turn(records=1, seconds=0.001)
    stats.polled(0.012)
    stats.turn(records=500, seconds=0.016, before_s=0.011, polling_s=0.010)
    stats.polled(0.144)
    stats.turn(records=3753, seconds=0.139, before_s=0.011, polling_s=0.010)
    stats.turn(records=300, seconds=0.010)  # after it: not in its trace
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
        stats.txn(records=1, score_s=0.0, commit_s=0.0)  # the next line has no long turn: no trace
    assert len(caplog.messages) == 3
    assert caplog.messages[1] == (
        f"the longest turn and the {LoopStats.TRACE_TURNS} before it: "
        + "; ".join(["0 records, 0 ms"] + ["1 records, 1 ms"] * (LoopStats.TRACE_TURNS - 2))
        + "; +11 ms (10 polling) 500 records, first 12 ms old, 16 ms; +11 ms (10 polling) 3753 records, "
          "first 144 ms old, 139 ms")


def test_a_line_whose_longest_turn_is_short_has_no_trace(caplog):
    stats = LoopStats(every_s=0.0)
    stats.turn(records=500, seconds=LoopStats.TRACE_S / 2)
    with caplog.at_level(logging.INFO, logger="monitor.worker_loop"):
        stats.txn(records=1, score_s=0.0, commit_s=0.0)
    assert len(caplog.messages) == 1
