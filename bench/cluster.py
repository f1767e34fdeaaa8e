"""The bench's own Kafka world: a throwaway broker, fresh topic namespaces, real `vigil worker` processes, lag."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from monitor import kafka_admin, topics
from monitor.app import PARTITIONS, TICKS
from monitor.config import ConfigError, WorkerTiming
from monitor.kafka_local import LocalKafka, free_port, scratch_root
from monitor.worker_loop import READY_LINES

ROOT = Path(__file__).resolve().parents[1]
READY_MARKS = tuple(line.encode() for line in READY_LINES)
# The bench's readings carry the broker's append time, not the feeder's: (d) reads it back after the run to split
# a reading's way to the worker at the broker, and a worker's "oldest record of a poll" is then its age in the broker
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
BROKER_MIN_FREE = 8 << 30  # bytes in /dev/shm to keep the broker's data there; the latency part held up to 1.75 GB


def default_broker_root() -> Path:
    """/dev/shm when it is a tmpfs with room (kafka_local.scratch_root), else the system's temporary folder."""
    return scratch_root(BROKER_MIN_FREE)


# The bench broker's -Xmx unless --broker-heap. At 768 MB (until the thirty-first session) ZGC collected every
# 4.5-5 s at half load, each cycle 0.3-0.6 s of concurrent marking on the one core the broker shares with the
# feeder and the clocks; that core went 55-65 % -> 76-99 % busy, and each cycle showed as a bump in (d)'s p99 of
# that second (+10-30 ms mostly, up to +70; twice the worker's transactional round trips went to p99 40-58 ms
# against 5-10). At 3 GB a cycle comes every 45-60 s. Kafka's operations guide runs brokers with 6 GB.
BROKER_HEAP = "3g"


def collect_broker_garbage(pid: int, timeout_s: float = 60.0) -> float | None:
    """A full collection in the broker's JVM now (`jcmd <pid> GC.run`, as JMH forces one between iterations), so
    that a measured feed starts with the broker's heap empty: at 3 GB the next cycle comes 53-63 s later, past the
    warm-up and the feed (25 s) when it runs right before the first reading is sent (latency.measure's
    before_feed; until 12:20 of the thirty-first session it ran ~40-50 s earlier, before the feeder had started,
    and a cycle still fell in every feed). Returns the seconds it took, or None without the JDK's jcmd (a JRE
    only), or if it failed."""
    jcmd = shutil.which("jcmd")
    if jcmd is None:
        return None
    began = time.perf_counter()
    try:
        subprocess.run([jcmd, str(pid), "GC.run"], check=True, capture_output=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError):
        return None
    return time.perf_counter() - began


@contextmanager
def broker(heap: str = BROKER_HEAP, properties: dict[str, str] | None = None,
           root: Path | None = None) -> Iterator[LocalKafka]:
    """A fresh single-node broker on free ports in a temporary folder under `root` (default:
    `default_broker_root()`; `properties` after vigil's own); stopped and deleted afterwards."""
    state = Path(tempfile.mkdtemp(prefix="vigil-bench-kafka-", dir=root or default_broker_root()))
    kafka = LocalKafka(state, port=free_port(), controller_port=free_port(), heap=heap)
    try:
        kafka.up(extra_properties=properties)
        yield kafka
    finally:
        kafka.destroy()
        shutil.rmtree(state, ignore_errors=True)


def new_namespace(bootstrap: str, prefix: str = "b") -> str:
    """A fresh namespace with every contract topic (12-partition readings), so runs never share state."""
    ns = f"{prefix}{uuid.uuid4().hex[:8]}"
    ticks = topics.TopicSpec(topics.namespaced(TICKS, ns), PARTITIONS, "patient_key", "tick")
    readings = topics.namespaced(topics.READINGS, ns)
    specs = [replace(s, config={**s.config, **APPEND_TIME}) if s.name == readings else s for s in topics.contract(ns)]
    kafka_admin.create_topics(bootstrap, [*specs, ticks])  # the worker's timer writes ticks
    return ns


def group_of(namespace: str) -> str:
    return f"{namespace}.vigil-monitor"  # monitor.config.Settings.worker_group with the default worker id


def raw_producer(bootstrap: str, **options: object) -> KafkaProducer:
    opts: dict[str, object] = {"acks": "all", "enable_idempotence": True, "linger_ms": 5,
                               "batch_size": 256 * 1024, "max_in_flight_requests_per_connection": 5}
    opts.update(options)
    return KafkaProducer(bootstrap_servers=bootstrap, **opts)


def preload(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    """Writes key/value pairs as fast as a raw producer can; returns the seconds it took (acked)."""
    prod = raw_producer(bootstrap)
    t = time.perf_counter()
    for key, value in payloads:
        prod.send(topic, key=key, value=value)
    prod.flush(timeout=300)
    took = time.perf_counter() - t
    prod.close()
    return took


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> dict[str, float]:
    """User + system CPU seconds so far per thread name of a process: "main" for its first thread, else the
    kernel's name (librdkafka names its threads rdk:main, rdk:broker<id>, ...; Python's own threads keep the
    process name). Threads that ended are gone from the sum, so compare threads that live through a phase."""
    hz = os.sysconf("SC_CLK_TCK")
    by_name: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm, fields = (task / "stat").read_text().rsplit(")", 1)
        except OSError:  # the thread ended meanwhile
            continue
        name, ticks = "main" if task.name == str(pid) else comm.split("(", 1)[1], fields.split()
        by_name[name] = by_name.get(name, 0.0) + (int(ticks[11]) + int(ticks[12])) / hz
    return by_name


JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")  # HotSpot's compiler threads, as the kernel cuts their names


def jit_cpu_s(by_name: dict[str, float]) -> float:
    """The CPU seconds of a JVM's JIT compiler threads in a thread_cpu_s() snapshot: a fresh broker compiles
    for minutes under a new load, and while it does its requests cost more (bench/README.md, twenty-third
    session)."""
    return sum(used for name, used in by_name.items() if name.startswith(JIT_THREADS))


def machine_cpu_s() -> tuple[float, float, float]:
    """(busy, total, stolen) CPU seconds of the whole machine so far, over all cores (Linux /proc/stat); stolen
    is time the hypervisor ran something else while a core of this VM had work (part of busy)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:8]) - idle) / hz, sum(ticks[:8]) / hz, ticks[7] / hz


@dataclass(frozen=True)
class CpuSnapshot:
    """The machine's CPU seconds and some processes' at one moment; two of them give the load in between."""

    busy_s: float
    total_s: float
    processes_s: dict[str, float]
    stolen_s: float

    @classmethod
    def take(cls, pids: dict[str, int]) -> CpuSnapshot:
        busy, total, stolen = machine_cpu_s()
        return cls(busy, total, {name: cpu_s(pid) for name, pid in pids.items()}, stolen)

    def load_since(self, earlier: CpuSnapshot) -> dict[str, float]:
        """The machine's busy and stolen shares, and each process's cores ("<name>_cores"), between the two
        snapshots."""
        total = self.total_s - earlier.total_s
        seconds = total / (os.cpu_count() or 1)  # wall seconds in between
        load = {"machine_busy": (self.busy_s - earlier.busy_s) / total if total > 0 else 0.0,
                "machine_stolen": (self.stolen_s - earlier.stolen_s) / total if total > 0 else 0.0}
        load.update({f"{name}_cores": (used - earlier.processes_s[name]) / seconds if seconds > 0 else 0.0
                     for name, used in self.processes_s.items()})
        return load


WORKER_CPUS_ENV = "VIGIL_BENCH_WORKER_CPUS"  # "1" or "2,3": where Worker.start pins each worker (--pin-worker)


@dataclass
class Worker:
    """One real `python -m monitor worker` process bound to a namespace, with its own log."""

    bootstrap: str
    namespace: str
    log_path: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = ("-m", "monitor", "worker", "--loglevel", "info")

    def start(self) -> Worker:
        env = {**os.environ, "VIGIL_BOOTSTRAP": self.bootstrap, "VIGIL_NAMESPACE": self.namespace,
               "VIGIL_CONSENT_REQUIRED": "0", "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost",
               "VIGIL_PSEUDONYM_SECRET": os.environ.get("VIGIL_PSEUDONYM_SECRET", "vigil-bench-secret-0123456789"),
               **self.env_extra}
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([sys.executable, *self.command], cwd=ROOT,
                                     env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        cpus = os.environ.get(WORKER_CPUS_ENV, "")
        if cpus:  # `python -m bench --pin-worker`: a core of its own, as a deployment's worker has
            os.sched_setaffinity(self.proc.pid, {int(c) for c in cpus.split(",")})
        return self

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            if any(mark in self.log_path.read_bytes() for mark in READY_MARKS):
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout_s}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def rss_kib(self) -> int:
        assert self.proc is not None
        return rss_kib(self.proc.pid)

    def cpu_s(self) -> float:
        assert self.proc is not None
        return cpu_s(self.proc.pid)

    def thread_cpu_s(self) -> dict[str, float]:
        assert self.proc is not None
        return thread_cpu_s(self.proc.pid)

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def runtime_variant(variant: str) -> tuple[str, dict[str, str]]:
    """"runtime:<name>[;ENV=value,...]" read: the runtime and its environment; ValueError names what is wrong
    (checked when the bench starts, not when the variant's worker exits minutes later)."""
    name, _, settings = variant.removeprefix("runtime:").partition(";")
    env: dict[str, str] = {}
    for item in (i for i in settings.split(",") if i):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{item!r} in {variant!r} is not ENV=value (settings are separated by commas)")
        env[key.strip()] = value
    try:
        WorkerTiming.from_env(env)
    except ConfigError as exc:
        hint = " (settings are separated by commas)" if ";" in settings else ""
        raise ValueError(f"{variant!r}: {exc}{hint}") from None
    return name, env


@contextmanager
def workers(bootstrap: str, namespace: str, count: int, log_dir: Path, variant: str | None = None,
            **env: str) -> Iterator[list[Worker]]:
    """Starts `count` workers in one consumer group and waits until each is ready and the group is stable.

    variant: "JSON faust overrides[;module@rev,...]" runs bench.variant_worker (the same agents) instead;
    "floor:<mode>[;JSON]" runs bench.floor_worker (trivial agents on the same app settings);
    a "memo:" prefix also wraps the forecaster lookup in monitor.forecast_memo.ForecastMemo;
    "runtime:<name>[;ENV=value,...]" runs `vigil worker` with VIGIL_WORKER_RUNTIME=<name> (faust or batch)
    and those environment variables.
    """
    extra = dict(env)
    command: tuple[str, ...] = Worker.command
    if variant is not None and variant.startswith("runtime:"):  # "runtime:batch[;ENV=value,...]"
        name, settings = runtime_variant(variant)
        extra["VIGIL_WORKER_RUNTIME"] = name
        extra.update(settings)
        variant = None
    if variant is not None and variant.startswith("memo:"):
        variant = variant.removeprefix("memo:")
        extra["VIGIL_BENCH_MEMO"] = "1"
    if variant is not None and variant.startswith("floor:"):
        mode, _, overrides = variant.removeprefix("floor:").partition(";")
        extra.update(VIGIL_BENCH_FLOOR=mode, VIGIL_BENCH_OVERRIDES=overrides or "{}")
        command = ("-m", "bench.floor_worker")
    elif variant is not None:
        overrides, _, patch = variant.partition(";")
        extra["VIGIL_BENCH_OVERRIDES"] = overrides or "{}"
        extra["VIGIL_BENCH_PATCH"] = patch
        command = ("-m", "bench.variant_worker")
    started = [Worker(bootstrap, namespace, log_dir / f"{namespace}-w{i}.log", extra, command=command).start()
               for i in range(count)]
    try:
        for w in started:
            w.wait_ready()
        wait_group_stable(bootstrap, group_of(namespace), count)
        yield started
    finally:
        for w in started:
            w.stop()


def wait_group_stable(bootstrap: str, group: str, members: int, timeout_s: float = 120.0) -> None:
    """Polls the group coordinator until the group is Stable with `members` members that own partitions."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-bench")
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            desc = admin.describe_groups([group])[group]
            if desc.get("group_state", desc.get("state")) == "Stable" and len(desc.get("members", ())) == members:
                return
            time.sleep(0.3)
        raise TimeoutError(f"group {group} not stable with {members} members")
    finally:
        admin.close()


class Progress:
    """How far a consumer group has committed on one topic (sum over partitions), polled by the bench."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.topic = topic
        self.group = group
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-bench-progress")
        self.probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        self.partitions = [TopicPartition(topic, p) for p in sorted(self.probe.partitions_for_topic(topic) or ())]

    def committed(self) -> int:
        offsets = self.admin.list_group_offsets({self.group: self.partitions}).get(self.group, {})
        return sum(max(0, meta.offset) for meta in offsets.values())

    def end(self) -> int:
        return sum(self.probe.end_offsets(self.partitions).values())

    def close(self) -> None:
        self.admin.close()
        self.probe.close()


@dataclass(frozen=True)
class Drain:
    """A consumer group's progress from its first commit to zero lag."""

    records: int
    seconds: float
    timed_out: bool

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def wait_drained(progress: Progress, target: int, timeout_s: float, poll_s: float = 0.25) -> Drain:
    """Measures from the first observed commit to the moment committed == target (lag zero).

    The records committed before the first observation are excluded from the rate, so the worker's
    start-up and the first commit interval do not count.
    """
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    last = (time.monotonic(), 0)
    while time.monotonic() < deadline:
        done = progress.committed()
        now = time.monotonic()
        if done > 0 and first is None:
            first = (now, done)
        last = (now, done)
        if done >= target:
            break
        time.sleep(poll_s)
    if first is None:
        return Drain(0, 0.0, True)
    return Drain(last[1] - first[1], last[0] - first[0], last[1] < target)


def read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[bytes]:
    """Every committed record value of a topic (read_committed), read until each partition's end offset."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed")
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    end = consumer.end_offsets(parts)
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and any(consumer.position(p) < end[p] for p in parts):
            for messages in consumer.poll(timeout_ms=200).values():
                values.extend(m.value for m in messages)
    finally:
        consumer.close()
    return values
