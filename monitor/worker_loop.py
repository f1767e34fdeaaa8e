"""What the two batch loops (rdkafka_worker, batch_worker) share, free of any Kafka library: the topic names of a
deployment, the ready lines `vigil worker` prints, and the loop statistics operators read to tune."""

from __future__ import annotations

import gc
import logging
import math
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, NamedTuple, TypeVar

from monitor import topics, worker_core
from monitor.config import Settings
from monitor.thread_times import ThreadTimes

log = logging.getLogger(__name__)

READY_LINE = "vigil batch worker: ready"
RDKAFKA_READY_LINE = "vigil rdkafka worker: ready"
# what `vigil worker` prints once ready, per runtime
READY_BY_RUNTIME = {"faust": "[^Worker]: Ready", "batch": READY_LINE, "rdkafka": RDKAFKA_READY_LINE}
READY_LINES = tuple(READY_BY_RUNTIME.values())
INPUTS = {topics.READINGS: "readings", topics.ACKS: "acks", topics.PATIENT_CONFIG: "patient_config"}


class TopicNames:
    """The namespaced topic names of one deployment, the changelogs named as faust names them."""

    def __init__(self, settings: Settings) -> None:
        ns = settings.namespace
        self.kind = {topics.namespaced(base, ns): kind for base, kind in INPUTS.items()}
        self.out = {
            worker_core.ALERTS: topics.namespaced(topics.ALERTS, ns),
            worker_core.SUMMARIES: topics.namespaced(topics.SUMMARIES, ns),
            worker_core.DEADLETTER: topics.namespaced(topics.DEADLETTER, ns),
            worker_core.STATE: topics.table_changelog(settings.worker_group, topics.STATE_TABLE),
            worker_core.CONFIG: topics.table_changelog(settings.worker_group, topics.CONFIG_TABLE),
        }
        self.changelog = {self.out[worker_core.STATE]: worker_core.STATE,
                          self.out[worker_core.CONFIG]: worker_core.CONFIG}


Offset = TypeVar("Offset")


class NextTransaction(Generic[Offset]):
    """What the loop scored since its last transaction was sent, gathered while that one commits: the scoring of
    the next batches overlaps the broker's commit instead of waiting for it (seventh session: the loop waited
    1.7-2.0 s in 10 for commits at half load, and the readings that arrived meanwhile were scored only after it).

    Offsets are kept per (topic, partition): a later batch's offset, with its replay metadata, replaces an
    earlier one's. `limit` is how many input records may gather before the loop waits for the commit after all.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._reset()

    def _reset(self) -> None:
        self.outs: list[tuple[int, worker_core.Out]] = []
        self.offsets: dict[tuple[str, int], Offset] = {}
        self.records, self.score_s = 0, 0.0

    def add(self, outs: Iterable[tuple[int, worker_core.Out]], offsets: Iterable[tuple[tuple[str, int], Offset]],
            records: int, score_s: float) -> None:
        self.outs.extend(outs)
        self.offsets.update(offsets)
        self.records += records
        self.score_s += score_s

    def __bool__(self) -> bool:
        """Whether there is anything to commit (outputs, or offsets that moved)."""
        return bool(self.outs or self.offsets)

    def full(self) -> bool:
        return self.records >= self.limit

    def take(self) -> tuple[list[tuple[int, worker_core.Out]], list[Offset], int, float]:
        """The gathered outputs, offsets, input record count and scoring seconds; starts gathering anew."""
        taken = self.outs, list(self.offsets.values()), self.records, self.score_s
        self._reset()
        return taken


def quick_handoffs(seconds: float) -> float:
    """Sets how long a thread waiting for the GIL waits before the running one must let it go; returns the old value.

    The rdkafka loop holds the GIL while it scores. The commit thread needs it for a moment after each blocking
    librdkafka call (offsets sent, commit done), so under load each of those waited up to Python's default 5 ms:
    at half load commits took 3-8 ms longer on average (bench/README.md, eleventh session). No other
    thread of the worker runs Python code, so a short interval costs nothing else.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    return previous


class Collected(NamedTuple):
    """One full collection: its pause, and the unreachable objects it found (cycles: reference counting frees
    everything else, so a steady 0 says the collections could be rarer; thirtieth session: 0 after 300,000 readings
    in process)."""

    seconds: float
    unreachable: int


class FullCollections:
    """Full garbage collections when the loop chooses, not in the middle of a batch: Python's own took 65-124 ms
    each over the states a loaded worker holds (6 in a minute at 9,500 readings/s; bench/README.md, sixth session).

    install() freezes what start-up loaded, stops the automatic collections of the older generations and lets the
    youngest one collect every YOUNG allocations instead of 700: nearly every object a reading leaves behind
    lives on in a patient's state, so frequent young collections only walked live objects again (~2 us of a
    ~26 us reading, seventh session). collect(), called between batches, collects everything once one is due.
    Vigil's states hold no reference cycles, so reference counting frees them: the full collection only finds
    the rare cycle (an exception's frames), and once a minute is enough for that. every_s=0 leaves Python's
    collector as it is.
    """

    NEVER: int = 1 << 30  # collections of the younger generation before an automatic one of the older
    YOUNG: int = 50_000  # allocations (net of frees) between two collections of the youngest generation

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self.next = clock() + every_s

    def install(self) -> None:
        if self.every_s > 0:
            gc.set_threshold(self.YOUNG, self.NEVER, self.NEVER)
            self.freeze()

    def freeze(self) -> None:
        """Moves what is alive now (modules, restored tables) out of every later collection's way."""
        if self.every_s > 0:
            gc.freeze()

    def collect(self) -> Collected | None:
        """A full collection if one is due: how long it took and what it found; None if none was due."""
        if self.every_s <= 0 or self.clock() < self.next:
            return None
        began = time.perf_counter()
        found = gc.collect()
        self.next = self.clock() + self.every_s
        return Collected(time.perf_counter() - began, found)


class BusyShare:
    """Whether the loop is busy enough to spin between fetches (VIGIL_SPIN_BUSY): the share of wall time it
    worked over each `window_s`, against `on` with hysteresis.

    Spinning pays only where the loop's own speed decides the queue: at half load it lowered p99 in twelve pairs
    of fifteen, at a quarter in none (bench/README.md, twenty-fourth and twenty-fifth sessions), and a worker that
    gets a record every few ms would otherwise keep its core busy at any load. Spinning makes scoring cheaper
    (~31-41 us a reading against ~44-59), so it stops only below `on * OFF_RATIO`, not as soon as its own saving
    takes the share under `on`.
    on <= 0 spins always (whenever VIGIL_SPIN_SECONDS is set).
    """

    OFF_RATIO: float = 0.5

    def __init__(self, on: float, window_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.on = on
        self.window_s = window_s
        self.clock = clock
        self.since = clock()
        self.busy_s = 0.0
        self.share = 0.0  # over the last whole window
        self.spinning = on <= 0

    def worked(self, seconds: float) -> bool:
        """Counts `seconds` of the loop's work (scoring, sending; not its waits) and decides again once a window
        is over; returns whether it did (share and spinning are new)."""
        self.busy_s += seconds
        now = self.clock()
        elapsed = now - self.since
        if elapsed < self.window_s:
            return False
        self.share = self.busy_s / elapsed
        self.busy_s, self.since = 0.0, now
        if self.on > 0:
            self.spinning = self.share >= (self.on * self.OFF_RATIO if self.spinning else self.on)
        return True


class SpreadTicks:
    """Every patient's wall-clock check once a period, spread over it: each loop turn checks the share of the
    round that is due by then, never all patients in one turn (the readings polled behind a turn wait for it; a
    whole tick of 100,000 patients took 1.1-1.3 s, bench/README.md, twenty-seventh session).

    A round checks the patients there were when it began, in that order; one seen later is checked in the next
    round, so at most two periods after it appeared. The first round begins one period after the loop, when the
    whole tick used to run."""

    def __init__(self, period_s: float, now_s: float) -> None:
        self.period_s = period_s
        self.began = now_s  # the current round's start (before the first round: the loop's)
        self.round: list[tuple[int, str]] = []
        self.done = 0  # how many of `round` were handed out

    def due(self, now_s: float, patients: Callable[[], list[tuple[int, str]]]) -> list[tuple[int, str]]:
        """The (partition, patient) pairs to check in this turn: what the round owes by `now_s`. A new round
        takes `patients()` once a period and begins with what the last one had left."""
        left: list[tuple[int, str]] = []
        if now_s - self.began >= self.period_s:
            left = self.round[self.done:]
            self.round, self.done = patients(), 0
            self.began += self.period_s * ((now_s - self.began) // self.period_s)  # late turns skip no round
        owed = max(self.done, min(len(self.round), math.ceil(len(self.round) * (now_s - self.began) / self.period_s)))
        slice_, self.done = self.round[self.done:owed], owed
        return left + slice_


class TracedTurn(NamedTuple):
    """One loop turn as the trace of a long one lists it."""

    before_s: float | None  # since the turn before ended
    polling_s: float  # ... of that in its poll
    records: int
    age_s: float | None  # the first polled record's age at the poll
    seconds: float  # scoring

    def describe(self) -> str:
        gap = "" if self.before_s is None else f"+{1000 * self.before_s:.0f} ms ({1000 * self.polling_s:.0f} polling) "
        age = "" if self.age_s is None else f", first {1000 * self.age_s:.0f} ms old"
        return f"{gap}{self.records} records{age}, {1000 * self.seconds:.0f} ms"


class LoopStats:
    """Where the lanes' time goes, logged every `every_s` seconds at INFO (operators read it to tune;
    VIGIL_LOOP_STATS, WorkerTiming.loop_stats_s).

    The longest turn of a line, if it took TRACE_S or more, comes with the TRACE_TURNS turns before it on a line of
    its own: whether its records were polled late (small polls of young records, then one of old ones) or the loop
    was busy before it (thirty-first session: a 139 ms turn of records 144 ms old at their poll, begun 11 ms after
    the turn before)."""

    TRACE_S: float = 0.05
    TRACE_TURNS: int = 12

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.busy_share: float | None = None  # the loop's latest, not summed per line: kept across lines
        self.spinning = False
        self.loop_thread: Callable[[], ThreadTimes | None] | None = None
        self.loop_times: ThreadTimes | None = None  # at the last line
        self.recent: deque[TracedTurn] = deque(maxlen=self.TRACE_TURNS + 1)
        self.age_s: float | None = None  # the age polled() gave for the coming turn
        self._reset(time.monotonic())

    def watch(self, loop_thread: Callable[[], ThreadTimes | None]) -> None:
        """Each line says from now on what the loop's thread did in the kernel's eyes since the line before
        (thread_times.read of the loop's native thread id): user and kernel time, page faults, waits for its core."""
        self.loop_thread = loop_thread
        self.loop_times = loop_thread()

    def _reset(self, now: float) -> None:
        self.since, self.txns, self.records, self.score_s, self.commit_s, self.commit_max_s = now, 0, 0, 0.0, 0.0, 0.0
        self.polls, self.ages_s, self.age_max_s, self.wait_s = 0, 0.0, 0.0, 0.0
        self.collections, self.collection_max_s, self.collection_found = 0, 0.0, 0
        self.turn_max_s, self.turn_records, self.turn_cpu_s = 0.0, 0, 0.0
        self.turn_before_s: float | None = None  # the longest turn's start after the end of the one before
        self.turn_polling_s = 0.0  # ... and how much of that its poll took (waiting, spinning)
        self.turns_s, self.turns_cpu_s = 0.0, 0.0  # every turn's time, and the loop thread's CPU time in them
        self.trace: list[TracedTurn] = []  # the longest turn (TRACE_S or more) and the ones before it

    def turn(self, records: int, seconds: float, cpu_s: float | None = None, before_s: float | None = None,
             polling_s: float = 0.0) -> None:
        """One turn of the loop: `records` polled, scored in `seconds`, `cpu_s` of them on the CPU (the loop
        thread's CPU time; the rest it was not running: other threads or processes had its core), begun `before_s`
        after the turn before ended, `polling_s` of that in its poll (the rest: sending, a collection). The longest
        is logged: a reading polled behind a long turn waits for all of it, and what came before says why it was
        long (a slow fetch, or the loop busy elsewhere)."""
        self.recent.append(TracedTurn(before_s, polling_s, records, self.age_s, seconds))
        self.age_s = None
        if seconds > self.turn_max_s:
            self.turn_max_s, self.turn_records, self.turn_cpu_s = seconds, records, cpu_s or 0.0
            self.turn_before_s, self.turn_polling_s = before_s, polling_s
            if seconds >= self.TRACE_S:
                self.trace = list(self.recent)
        if cpu_s is not None:
            self.turns_s += seconds
            self.turns_cpu_s += cpu_s

    def collected(self, seconds: float, unreachable: int = 0) -> None:
        """A full garbage collection the loop ran (FullCollections)."""
        self.collections += 1
        self.collection_max_s = max(self.collection_max_s, seconds)
        self.collection_found += unreachable

    def busy(self, share: float, spinning: bool) -> None:
        """The loop's busy share over its last whole window (BusyShare), and whether it spins now."""
        self.busy_share, self.spinning = share, spinning

    def polled(self, age_s: float) -> None:
        """How long the oldest record of a polled batch had been in Kafka (its timestamp to now)."""
        self.polls += 1
        self.ages_s += age_s
        self.age_max_s = max(self.age_max_s, age_s)
        self.age_s = age_s

    def waited(self, wait_s: float) -> None:
        """How long the loop waited for the previous transaction before it could send the next one."""
        self.wait_s += wait_s

    def txn(self, records: int, score_s: float, commit_s: float) -> None:
        self.txns += 1
        self.records += records
        self.score_s += score_s
        self.commit_s += commit_s
        self.commit_max_s = max(self.commit_max_s, commit_s)
        now = time.monotonic()
        if now - self.since >= self.every_s:
            extra = "" if not self.polls else (
                f"; oldest record of a poll {1000 * self.ages_s / self.polls:.0f} ms old on average (max "
                f"{1000 * self.age_max_s:.0f} ms); loop waited {1000 * self.wait_s:.0f} ms for commits")
            if self.turn_max_s:
                extra += f"; longest turn {1000 * self.turn_max_s:.0f} ms ({self.turn_records} records"
                extra += f", {1000 * self.turn_cpu_s:.0f} ms on the CPU" if self.turns_s else ""
                extra += "" if self.turn_before_s is None else (
                    f", begun {1000 * self.turn_before_s:.0f} ms after the turn before, "
                    f"{1000 * self.turn_polling_s:.0f} of them polling")
                extra += ")"
            if self.turns_s:
                extra += f"; turns off the CPU {1000 * max(0.0, self.turns_s - self.turns_cpu_s):.0f} ms"
            if self.collections:
                extra += (f"; {self.collections} full garbage collection(s), {1000 * self.collection_max_s:.0f} ms, "
                          f"{self.collection_found} unreachable objects found")
            if self.busy_share is not None:
                extra += f"; loop busy {100 * self.busy_share:.0f} %{' (spinning)' if self.spinning else ''}"
            extra += self._loop_thread_part()
            log.info("%d records in %d transactions in %.0f s: scoring %.0f ms, commits %.0f ms (max %.0f ms)%s",
                     self.records, self.txns, now - self.since, 1000 * self.score_s, 1000 * self.commit_s,
                     1000 * self.commit_max_s, extra)
            if self.trace:
                log.info("the longest turn and the %d before it: %s", len(self.trace) - 1,
                         "; ".join(turn.describe() for turn in self.trace))
            self._reset(now)

    def _loop_thread_part(self) -> str:
        """The loop thread's counters since the line before, when watched and readable."""
        now = self.loop_thread() if self.loop_thread is not None else None
        before, self.loop_times = self.loop_times, now
        if now is None or before is None:
            return ""
        spent = now - before
        return (f"; loop thread user {1000 * spent.user_s:.0f} ms, kernel {1000 * spent.system_s:.0f} ms, "
                f"{spent.minor_faults} page faults ({spent.major_faults} major), "
                f"waited {1000 * spent.waiting_s:.0f} ms for its core")
