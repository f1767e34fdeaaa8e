"""Cost growth (4): bytes per patient of the worker's table value, and a worker's RSS after recovering N states."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import workload
from bench.cluster import Worker, group_of, preload
from monitor import engine, kafka_admin
from monitor.app import PARTITIONS
from monitor.pseudonym import patient_key
from monitor.topics import COMPACTED, TopicSpec

CHANGELOG = "{group}-patient-state-changelog"  # faust: "<app id>-<table name>-changelog"


@dataclass(frozen=True)
class StateSizes:
    """Serialized MonitorState sizes over a sample of patients after `hours` of readings."""

    patients: int
    hours: float
    mean_bytes: float
    p95_bytes: int
    max_bytes: int
    states: dict[str, bytes]


def sample_states(n_patients: int, steps: int, now: datetime | None = None) -> StateSizes:
    """Runs the pure engine over n patients' feeds for `steps` 5-minute steps (the same code the worker runs)."""
    group = workload.patients(n_patients, seed=3)
    feed = workload.readings(group, int(workload.readings_per_step(n_patients) * steps))
    forecaster = engine.default_forecaster()
    clock = now or datetime.now(UTC)
    states: dict[str, engine.MonitorState] = {}
    for r in feed:
        states[r.patient_key] = engine.process(states.get(r.patient_key), r, clock, forecaster=forecaster).state
    dumped = {k: engine.dump_state(s) for k, s in states.items()}
    sizes = sorted(len(v) for v in dumped.values())
    return StateSizes(n_patients, steps * 5 / 60, sum(sizes) / len(sizes), sizes[int(0.95 * (len(sizes) - 1))],
                      sizes[-1], dumped)


def synthetic_table(sample: dict[str, bytes], n: int) -> list[tuple[bytes, bytes]]:
    """n table records for n distinct pseudonymous patients, each a copy of a real sampled state."""
    values = list(sample.items())
    out = []
    for i in range(n):
        old_key, value = values[i % len(values)]
        key = patient_key(f"bench-mem-{i:07d}", workload.SECRET)
        out.append((key.encode(), value.replace(old_key.encode(), key.encode())))
    return out


@dataclass(frozen=True)
class Footprint:
    """A worker's RSS with an empty table and after recovering n patients' states from the changelog."""

    patients: int
    rss_empty_kib: int
    rss_loaded_kib: int

    @property
    def bytes_per_patient(self) -> float:
        return (self.rss_loaded_kib - self.rss_empty_kib) * 1024 / self.patients


def _settled_rss(worker: Worker, log: Path, loaded: bool, timeout_s: float = 600.0) -> int:
    """Waits until faust has read the changelog (or, when empty, is ready), then for RSS to stay put for 3 s."""
    mark = b"Done reading from changelog topics" if loaded else b"Worker ready"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and mark not in log.read_bytes():
        assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
        time.sleep(0.3)
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        rss = worker.rss_kib()
        if abs(rss - last) > 256:
            last, stable_since = rss, time.monotonic()
        elif time.monotonic() - stable_since >= 3:
            return rss
        time.sleep(0.5)
    return last


def worker_rss(bootstrap: str, namespace: str, records: list[tuple[bytes, bytes]], log_dir: Path) -> int:
    """Writes `records` into the state changelog of a fresh namespace, starts one worker, returns its settled RSS."""
    topic = CHANGELOG.format(group=group_of(namespace))
    kafka_admin.create_topics(bootstrap, [TopicSpec(topic, PARTITIONS, "patient_key", "MonitorState",
                                                    dict(COMPACTED))])
    if records:
        preload(bootstrap, topic, records)
    log = log_dir / f"{namespace}-mem.log"
    worker = Worker(bootstrap, namespace, log).start()
    try:
        worker.wait_ready()
        return _settled_rss(worker, log, bool(records))
    finally:
        worker.stop()
