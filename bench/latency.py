"""(d) Reading -> alert latency: a paced producer stamps each reading, consumers stamp each alert's arrival."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import queue
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaError, Producer, TopicPartition

from bench import cluster
from monitor.rdkafka_stats import client_window
from monitor.records import Alert, Reading, from_json, to_json


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


class Seen(NamedTuple):
    """One alert record as a clock saw it: when it became visible, and when the worker produced it (both on the
    perf_counter clock; the second from the record's millisecond timestamp, None if it had none)."""

    arrived: float
    produced: float | None
    alert: Alert


# The clocks (`--uncommitted-clock` adds the second). The alerts a nurse gets are read_committed; a read_uncommitted
# clock shows how much of the delay is the commit, and costs the shared core a second consumer's fetches (each
# parked fetch cost the broker ~0.5-1 ms of CPU on this box, twenty-third session)
CLOCKS = ("read_committed",)
BOTH_CLOCKS = ("read_committed", "read_uncommitted")

# The clocks' fetch.wait.max.ms: how long the broker may park a clock's fetch while no alert is visible. Short, so
# a stamp never waits on the clock; each clock then asks 100-200 times a second (`--clock-fetch-wait-ms`).
CLOCK_FETCH_WAIT_MS = 5


class AlertClock(threading.Thread):
    """Reads the alerts topic from the start and stamps when each alert record became visible; records are parsed
    after the run (librdkafka fetches, and nothing but a stamp is done per batch: the probe shares the box)."""

    def __init__(self, bootstrap: str, topic: str, isolation: str, fetch_wait_ms: int = CLOCK_FETCH_WAIT_MS) -> None:
        super().__init__(daemon=True)
        self.isolation = isolation
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"latency-clock-{isolation}",
                                  "enable.auto.commit": False, "isolation.level": isolation,
                                  "fetch.wait.max.ms": fetch_wait_ms, "fetch.min.bytes": 1})
        partitions = self.consumer.list_topics(topic, timeout=30).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
        self.raw: list[tuple[float, int, bytes]] = []  # arrival (perf_counter), the record's timestamp (ms), value
        self.wall_minus_perf = time.time() - time.perf_counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            # poll() returns at the first record; consume(n, timeout) waits out its timeout unless n records came
            # (measured with confluent-kafka 2.16.1: consume(1000, 0.02) returned one record after 20 ms), which
            # stamped alerts up to 20 ms late until 2026-11-26 05:40
            first = self.consumer.poll(0.02)
            if first is None:
                continue
            messages = [first, *self.consumer.consume(num_messages=1000, timeout=0)]
            now = time.perf_counter()
            for m in messages:
                value = m.value()
                if m.error() is None and value is not None:
                    self.raw.append((now, m.timestamp()[1], value))
        self.consumer.close()

    def alerts(self) -> list[Seen]:
        """The stamped records, parsed (after the run: parsing is no part of the measurement). A record's
        timestamp is its CreateTime, set when the worker produced it (librdkafka stamps produce() calls)."""
        return [Seen(at, millis / 1000 - self.wall_minus_perf if millis > 0 else None, from_json(value, Alert))
                for at, millis, value in self.raw]


@dataclass(frozen=True)
class Latency:
    """Milliseconds from a reading's send to its alert becoming visible, for one isolation level."""

    isolation: str
    samples: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    # p99 of the alerts whose newest reading was sent in each successive WINDOW_S of the feed: is the tail the
    # start (a queue left by the warm-up still draining) or the steady state?
    p99_by_window_ms: tuple[float, ...] = ()
    # the delay in two legs, split where the worker produced the alert (the record's timestamp, ms resolution):
    # to_send = feeder linger, broker, the worker's fetch wait, scoring and its wait for the next transaction;
    # after_send = the transaction's commit and the clock's fetch. p50 and p99 of each leg, and each leg's mean
    # over the slowest 1 % of the whole delay (which leg the tail is)
    to_send_p50_ms: float = 0.0
    to_send_p99_ms: float = 0.0
    after_send_p50_ms: float = 0.0
    after_send_p99_ms: float = 0.0
    tail_to_send_ms: float = 0.0
    tail_after_send_ms: float = 0.0
    # the first part of to_send, split where the broker appended the newest reading (its LogAppendTime, ms; read
    # back after the run): the feeder's linger and request, and the broker's append. The rest of to_send is the
    # worker's fetch, scoring and wait for its transaction
    to_broker_p50_ms: float = 0.0
    to_broker_p99_ms: float = 0.0
    tail_to_broker_ms: float = 0.0
    # the windows' start, the first measured reading's send (Unix seconds), and p99 per second from it: to line
    # the delay up with the worker's log (VIGIL_LOOP_STATS=1)
    windows_from_unix_s: float = 0.0
    p99_by_second_ms: tuple[float, ...] = ()
    after_send_p99_by_second_ms: tuple[float, ...] = ()  # ... of the leg after the worker's send (its commit)


WINDOW_S = 5.0
# The feeder's librdkafka linger. librdkafka sends one produce request per partition batch, so with linger 0 the
# 5-ms ticks over the 12 readings partitions made ~2,000 requests/s, 90 % of the broker's produce requests at half
# load and about 0.13 of its cores on this 2-core box (fourteenth session, broker JMX and librdkafka statistics). 20 ms
# batches them to ~500/s. The readings are stamped when handed over, so the wait counts against vigil's latency.
FEEDER_LINGER_MS = 20.0

# a paced feed's memory a reading: its Reading objects here, the spawned feeder's own copy of them with their
# payloads, the broker's tmpfs (thirty-third session: a 40-s feed of 1.34 million readings took 16.3 GB of the
# memory available; the kernel killed the feeder of a 60-s feed, 1.96 million, at 16.4 GB of its own)
FEEDER_BYTES_PER_READING = 12_000


def mem_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The kernel's estimate of the bytes that can be allocated without swapping, or None where it gives none."""
    try:
        for line in meminfo.read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "MemAvailable":
                return int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def feeder_memory_error(rate: float, latency_s: float, warmup_s: float, available: int | None,
                        share: float = 0.8) -> str | None:
    """Why a paced feeder of `warmup_s` and then `latency_s` seconds at `rate` readings a second would not fit in
    `share` of `available` bytes, or None if it would or nobody knows: a feeder the kernel kills takes the run
    with it, minutes in."""
    readings = int(rate * (latency_s + warmup_s))
    needed = readings * FEEDER_BYTES_PER_READING
    if available is None or needed <= share * available:
        return None
    most_s = int(share * available / (FEEDER_BYTES_PER_READING * rate) - warmup_s)
    advice = (f"give --latency-seconds {most_s} or less at this rate" if most_s >= 1
              else "the warm-up alone does not fit: free some memory")
    return (f"the paced feeder of {readings:,} readings needs about {needed / 2**30:.1f} GiB and "
            f"{available / 2**30:.1f} GiB are available: {advice}")


class _FeederStats:
    """The feeder's requests sent so far and its slowest produce round trips, from librdkafka's statistics (its
    load on the broker, and whether the broker answered it late)."""

    def __init__(self) -> None:
        self.sent = 0
        self.rtt_max_ms = 0.0  # the longest produce round trip of any interval
        self.rtt_p99_ms = 0.0  # the highest interval's p99
        self.queued_p99_ms = 0.0  # ... of a record's wait in the producer (the linger) before its request

    def __call__(self, raw: str) -> None:
        brokers = client_window(json.loads(raw)).brokers  # the real brokers: not the bootstrap entry
        self.sent = sum(b.sent_total for b in brokers)
        for b in brokers:
            self.rtt_max_ms = max(self.rtt_max_ms, b.rtt_max_ms)
            self.rtt_p99_ms = max(self.rtt_p99_ms, b.rtt_p99_ms)
            self.queued_p99_ms = max(self.queued_p99_ms, b.queued_p99_ms)


READY = "ready to send"  # the feeder child's first hand-over: its readings are encoded, the feed can begin


def _feeder(bootstrap: str, topic: str, readings: list[Reading], rate: float, pids: dict[str, int], out: Any,
            linger_ms: float, release: Any, go: Any) -> None:
    def ready() -> None:
        out.put(READY)
        go.wait()  # the parent's before_feed is done

    load: dict[str, float] = {}
    stamps = paced_send(bootstrap, topic, readings, rate, pids, load, linger_ms, ready)
    out.put(load)
    release.wait()  # the parent has stopped its clocks
    out.put(stamps.tobytes())


def paced_send(bootstrap: str, topic: str, readings: list[Reading], rate: float, pids: dict[str, int] | None = None,
               load: dict[str, float] | None = None, linger_ms: float = FEEDER_LINGER_MS,
               ready: Callable[[], None] | None = None) -> array:
    """Sends readings at `rate` per second: every 5 ms the due readings are handed to a librdkafka producer
    (idempotent, acks=all, Java's murmur2 partitioner), each stamped when handed over; returns the send times in
    feed order. (A kafka-python producer costs ~70 us a record and aiokafka's record batches ~15 us of Python;
    librdkafka ~2 us: the feeder shares the box's two cores with the worker and the broker, and its CPU is not
    vigil's.) `load` gets the machine's busy share and each of `pids`' cores from the first send to the last
    delivery: not the seconds before, when the feeder starts and encodes its payloads (until 2026-11-26 11:30 they
    were counted, and made the box look idle and the worker short of CPU). `ready` is called once the payloads are
    encoded, right before the first send."""
    requests = _FeederStats()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": linger_ms, "partitioner": "murmur2_random",
                         "statistics.interval.ms": 1000, "stats_cb": requests})
    payloads = [(r.patient_key.encode(), to_json(r)) for r in readings]
    # stamps in an array made beforehand: a dict of stamps grown while sending stalled the feeder on each resize,
    # 47 ms at 699,050 readings, and sent the readings of the stall at once (twenty-ninth session)
    stamps = array("d", bytes(8 * len(payloads)))
    pids = {**(pids or {}), "feeder": os.getpid()}  # the feeder's own core share, beside the others'
    if ready is not None:
        ready()
    before = cluster.CpuSnapshot.take(pids)
    start = time.perf_counter()
    i = 0
    while i < len(payloads):
        due = min(len(payloads), int((time.perf_counter() - start) * rate) + 1)
        now = time.perf_counter()
        while i < due:
            key, value = payloads[i]
            producer.produce(topic, value, key)
            stamps[i] = now
            i += 1
        producer.poll(0)
        time.sleep(0.005)
    if producer.flush(60):
        raise RuntimeError("the paced feed was not delivered within 60 s")
    if load is not None:
        load.update(cluster.CpuSnapshot.take(pids).load_since(before))
        load["feeder_requests_per_s"] = requests.sent / max(time.perf_counter() - start, 1e-9)
        load |= {"feeder_rtt_max_ms": requests.rtt_max_ms, "feeder_rtt_p99_ms": requests.rtt_p99_ms,
                 "feeder_queued_p99_ms": requests.queued_p99_ms}
    return stamps


class PacedFeeder:
    """paced_send in a child process, so the feeder and the alert clocks never wait for each other's GIL
    (perf_counter is CLOCK_MONOTONIC on Linux: one clock for all processes). The stamps are handed over only
    when asked, after the clocks stopped: until the thirtieth session the child built and pickled a dict of
    600-750k stamps as soon as the feed was delivered, on the shared cores, and this process unpickled it while
    its clock thread was still stamping the last alerts."""

    def __init__(self, bootstrap: str, topic: str, readings: list[Reading], rate: float,
                 pids: dict[str, int] | None = None, linger_ms: float = FEEDER_LINGER_MS,
                 before_feed: Callable[[], object] | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")  # the parent already runs consumer threads
        self.reading_ids = [r.reading_id for r in readings]
        self.before_feed = before_feed
        self._out, self._release, self._go = ctx.Queue(), ctx.Event(), ctx.Event()
        self._child = ctx.Process(target=_feeder, daemon=True, args=(
            bootstrap, topic, readings, rate, pids or {}, self._out, linger_ms, self._release, self._go))
        self._child.start()

    def delivered(self) -> dict[str, float]:
        """Runs `before_feed` once the child is ready to send (its start-up and encoding take tens of seconds at
        600,000 readings), lets it send, waits until the whole feed was delivered; returns the machine's load
        while it was sent."""
        if self._next() != READY:
            raise RuntimeError("the paced feeder handed over something before it was ready to send")
        if self.before_feed is not None:
            self.before_feed()
        self._go.set()
        load: dict[str, float] = self._next()
        return load

    def stamps(self) -> dict[str, float]:
        """reading_id -> send time (perf_counter), once the measurement is over."""
        self._release.set()
        stamps = array("d")
        stamps.frombytes(self._next())
        self._child.join()
        return dict(zip(self.reading_ids, stamps, strict=True))

    def _next(self) -> Any:
        """The child's next hand-over; an error, not a hang, when the child died without one."""
        while True:
            try:
                return self._out.get(timeout=1.0)
            except queue.Empty:
                if not self._child.is_alive():
                    try:
                        return self._out.get(timeout=1.0)  # put just before it exited
                    except queue.Empty:
                        raise RuntimeError(f"the paced feeder exited ({self._child.exitcode}) without its "
                                           "results: its error is above") from None


def append_times(bootstrap: str, topic: str, wall_minus_perf: float, timeout_s: float = 120.0) -> dict[str, float]:
    """Each reading's broker append time on the perf_counter clock, read back after the run (no load on the
    measurement). The bench's readings topic keeps LogAppendTime (cluster.APPEND_TIME); a record with another
    timestamp (a CreateTime: the feeder's own stamp) is left out."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "latency-append-times",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
    pending, times = set(partitions), {}
    deadline = time.monotonic() + timeout_s
    try:
        while pending and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=10_000, timeout=0.5):
                error, value = m.error(), m.value()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(m.partition())
                    continue
                kind, millis = m.timestamp()
                if kind == TIMESTAMP_LOG_APPEND_TIME and value:
                    times[from_json(value, Reading).reading_id] = millis / 1000 - wall_minus_perf
    finally:
        consumer.close()
    return times


def _p99_each(groups: dict[int, list[float]], count: int) -> tuple[float, ...]:
    """p99 of groups 0..count-1 (a window or a second of the feed); 0 where a group had no alert."""
    return tuple(percentile(groups[g], 99) if groups.get(g) else 0.0 for g in range(count))


def summarize(isolation: str, seen: list[Seen], sent: dict[str, float],
              measured: set[str] | None = None, appended: dict[str, float] | None = None,
              wall_minus_perf: float = 0.0) -> Latency:
    """Latency of the alerts caused by `measured` readings (all sent ones when None); `appended` (reading id ->
    the broker's append time) splits the way to the worker's send at the broker; `wall_minus_perf` turns the
    stamps' perf_counter clock into Unix time."""
    delays: list[float] = []
    legs: list[tuple[float, float, float]] = []  # (delay, to_send, after_send) of the alerts with a timestamp
    to_broker: list[tuple[float, float]] = []  # (delay, to the broker) of the alerts whose reading has an append time
    windows: dict[int, list[float]] = {}
    seconds: dict[int, list[float]] = {}
    after_send_by_second: dict[int, list[float]] = {}
    appended = appended or {}
    first = min((at for rid, at in sent.items() if measured is None or rid in measured), default=0.0)
    for arrived, produced, alert in seen:
        newest = max((rid for rid in alert.reading_ids if rid in sent), key=sent.__getitem__, default=None)
        if newest is not None and (measured is None or any(rid in measured for rid in alert.reading_ids)):
            stamp = sent[newest]
            delay = (arrived - stamp) * 1000
            delays.append(delay)
            windows.setdefault(int((stamp - first) // WINDOW_S), []).append(delay)
            seconds.setdefault(int(stamp - first), []).append(delay)
            if produced is not None:
                legs.append((delay, (produced - stamp) * 1000, (arrived - produced) * 1000))
                after_send_by_second.setdefault(int(stamp - first), []).append((arrived - produced) * 1000)
            if newest in appended:
                to_broker.append((delay, (appended[newest] - stamp) * 1000))
    if not delays:
        return Latency(isolation, 0, 0.0, 0.0, 0.0, 0.0)
    by_window = _p99_each(windows, max(windows) + 1)
    by_second = _p99_each(seconds, max(seconds) + 1)
    after_by_second = _p99_each(after_send_by_second, max(seconds) + 1)
    split = {}
    if legs:
        tail = sorted(legs)[-max(1, len(legs) // 100):]
        split = {"to_send_p50_ms": percentile([t for _, t, _ in legs], 50),
                 "to_send_p99_ms": percentile([t for _, t, _ in legs], 99),
                 "after_send_p50_ms": percentile([a for _, _, a in legs], 50),
                 "after_send_p99_ms": percentile([a for _, _, a in legs], 99),
                 "tail_to_send_ms": sum(t for _, t, _ in tail) / len(tail),
                 "tail_after_send_ms": sum(a for _, _, a in tail) / len(tail)}
    if to_broker:
        slowest = sorted(to_broker)[-max(1, len(to_broker) // 100):]
        split |= {"to_broker_p50_ms": percentile([b for _, b in to_broker], 50),
                  "to_broker_p99_ms": percentile([b for _, b in to_broker], 99),
                  "tail_to_broker_ms": sum(b for _, b in slowest) / len(slowest)}
    return Latency(isolation, len(delays), percentile(delays, 50), percentile(delays, 95), percentile(delays, 99),
                   max(delays), by_window, **split, windows_from_unix_s=first + wall_minus_perf,
                   p99_by_second_ms=by_second, after_send_p99_by_second_ms=after_by_second)


def measure(bootstrap: str, readings_topic: str, alerts_topic: str, readings: list[Reading], rate: float,
            settle_s: float = 3.0, warmup: list[Reading] | None = None,
            load: dict[str, float] | None = None, pids: dict[str, int] | None = None,
            linger_ms: float = FEEDER_LINGER_MS, clock_wait_ms: int = CLOCK_FETCH_WAIT_MS,
            isolations: tuple[str, ...] = CLOCKS, before_feed: Callable[[], object] | None = None) -> list[Latency]:
    """Runs the paced feed against a ready worker and returns latency for each clock's isolation level (the
    first one's count is awaited), then the same for the warm-up: readings sent first in the same paced stream,
    whose alerts are not counted in the first ones (a worker's first seconds: coordinator look-ups, the first
    transactions). `load` gets the machine's busy share and each of `pids`' cores while the feed was sent.
    `before_feed` runs right before the first reading is sent."""
    clocks = [AlertClock(bootstrap, alerts_topic, iso, clock_wait_ms) for iso in isolations]
    for c in clocks:
        c.start()
    warmup = warmup or []
    feeder = PacedFeeder(bootstrap, readings_topic, [*warmup, *readings], rate, pids, linger_ms, before_feed)
    sending = feeder.delivered()
    if load is not None:
        load.update(sending)
    deadline = time.monotonic() + settle_s + 10
    last = -1
    while time.monotonic() < deadline:  # wait until no new alert arrived for settle_s
        count = len(clocks[0].raw)
        if count == last:
            break
        last = count
        time.sleep(settle_s)
    for c in clocks:
        c.stopping.set()
        c.join()
    sent = feeder.stamps()
    measured, early = {r.reading_id for r in readings}, {r.reading_id for r in warmup}
    seen = [(c.isolation, c.alerts()) for c in clocks]  # each clock's records parsed once
    appended = append_times(bootstrap, readings_topic, clocks[0].wall_minus_perf)
    wall = clocks[0].wall_minus_perf
    return [*(summarize(iso, alerts, sent, measured, appended, wall) for iso, alerts in seen),
            *(summarize(f"{iso}, warm-up", alerts, sent, early, appended, wall) for iso, alerts in seen if warmup)]
