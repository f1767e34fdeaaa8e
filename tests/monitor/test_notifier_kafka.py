"""The notifier's guard against a first join that assigned nothing (kafka-python 3.0 does not notice it)."""

from __future__ import annotations

import pytest

from monitor.notifier_kafka import FirstAssignmentWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def watch_with_clock():
    def make(grace_s: float = 15.0, attempts: int = 4) -> tuple[FirstAssignmentWatch, Clock]:
        clock = Clock()
        return FirstAssignmentWatch(grace_s=grace_s, attempts=attempts, clock=clock), clock
    return make


def test_nothing_happens_within_the_grace_period(watch_with_clock):
    watch, clock = watch_with_clock()
    clock.now += 14.9
    assert not watch.resubscribe(assigned=False)


def test_no_partition_after_the_grace_period_means_subscribe_again_then_wait_again(watch_with_clock):
    watch, clock = watch_with_clock()
    clock.now += 15.0
    assert watch.resubscribe(assigned=False)
    assert not watch.resubscribe(assigned=False)  # the new subscription gets its own grace period
    clock.now += 15.0
    assert watch.resubscribe(assigned=False)


def test_once_partitions_came_the_watch_is_over_for_good(watch_with_clock):
    watch, clock = watch_with_clock()
    assert not watch.resubscribe(assigned=True)
    clock.now += 60.0
    assert not watch.resubscribe(assigned=False)  # later empty assignments are the group's business (a rebalance)


def test_the_attempts_are_bounded(watch_with_clock):
    watch, clock = watch_with_clock(attempts=2)
    answers = []
    for _ in range(5):
        clock.now += 15.0
        answers.append(watch.resubscribe(assigned=False))
    assert answers == [True, True, False, False, False]
