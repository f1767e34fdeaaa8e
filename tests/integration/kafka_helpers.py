"""Helpers for integration tests on the real broker: namespaced topics, worker processes, read-back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from monitor import kafka_admin, topics
from monitor.topics import READINGS, namespaced
from monitor.worker_loop import READY_LINES

ROOT = Path(__file__).resolve().parents[2]
# faust reads these from the environment: a dead member leaves the group after the session timeout (6 s instead of
# 60 s keeps the kill tests short). The worker runs without standby replicas (monitor/app.py, bench/README.md).
READY_MARKS = tuple(line.encode() for line in READY_LINES)  # faust's line, the batch worker's
FAST_GROUP = {"broker_session_timeout": "6", "broker_heartbeat_interval": "1"}


def new_namespace(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def create_namespace(bootstrap: str, namespace: str) -> dict[str, str]:
    """Creates the contract topics under a namespace and returns {base name: namespaced name}."""
    kafka_admin.create_topics(bootstrap, topics.contract(namespace))
    return {spec.name: topics.namespaced(spec.name, namespace) for spec in topics.CONTRACT}


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1)


def read_topic(bootstrap: str, topic: str, *, min_count: int = 0, timeout_s: float = 60.0,
               settle_s: float = 2.0, committed_only: bool = True) -> list[tuple[bytes | None, bytes]]:
    """Reads a topic from the beginning until min_count records arrived and nothing new came for settle_s."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed" if committed_only else "read_uncommitted",
        group_id=None,
    )
    out: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + timeout_s
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            got = [(m.key, m.value) for msgs in batch.values() for m in msgs]
            if got:
                out.extend(got)
                last_new = time.monotonic()
            elif len(out) >= min_count and time.monotonic() - last_new >= settle_s:
                break
    finally:
        consumer.close()
    return out


@dataclass
class WorkerProcess:
    """A real `vigil worker` subprocess with its log, started and stopped by tests."""

    bootstrap: str
    namespace: str
    log_path: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> WorkerProcess:
        env = {**os.environ, "VIGIL_BOOTSTRAP": self.bootstrap, "VIGIL_NAMESPACE": self.namespace,
               "PYTHONUNBUFFERED": "1", **self.env_extra}
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "worker", "--loglevel", "info"],
                                     cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        self._wait_for(READY_MARKS, offset, timeout_s)
        return self

    def _wait_for(self, markers: tuple[bytes, ...], offset: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                text = fh.read()
                if any(marker in text for marker in markers):
                    return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout_s}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 60.0) -> int:
        """Graceful stop (SIGTERM): faust commits and leaves the group."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: a worker that stalls (no heartbeats, no progress) but is not dead."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 60.0, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return False


class Background(threading.Thread):
    """Runs a callable in a thread and keeps its exception for the test to re-raise."""

    def __init__(self, target: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:
            self.error = exc


class GroupProgress:
    """Committed offsets of the worker group on the readings topic, and its members."""

    def __init__(self, bootstrap: str, namespace: str) -> None:
        self.group = f"{namespace}.vigil-monitor"
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-test-progress")
        probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        topic = namespaced(READINGS, namespace)
        self.partitions = [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]
        probe.close()

    def committed(self) -> int:
        offsets = self.admin.list_group_offsets({self.group: self.partitions}).get(self.group, {})
        return sum(max(0, meta.offset) for meta in offsets.values())

    def members(self) -> int:
        desc = self.admin.describe_groups([self.group])[self.group]
        stable = desc.get("group_state", desc.get("state")) == "Stable"
        return len(desc.get("members", ())) if stable else -1

    def close(self) -> None:
        self.admin.close()
