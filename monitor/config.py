"""All runtime settings in one place, read from the environment with documented defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

DEFAULT_SECRET = "vigil-dev-secret-change-me-in-production"


class ConfigError(ValueError):
    """Raised for a setting that cannot work, with the variable name and what to do."""


# (variable, field, whether 0 is allowed, unit): the worker runtimes' timing, defaults on WorkerTiming's fields
WORKER_TIMING = (
    ("VIGIL_TICK_SECONDS", "tick_s", False, "seconds"),  # wall-clock no-data check
    ("VIGIL_COMMIT_INTERVAL", "commit_interval_s", True, "seconds"),  # batch: least time between two commits
    ("VIGIL_TXN_RETRY_BACKOFF", "txn_retry_backoff_s", True, "seconds"),  # retry after CONCURRENT_TRANSACTIONS
    ("VIGIL_TXN_RETRY_BACKOFF_MAX", "txn_retry_backoff_max_s", True, "seconds"),  # rdkafka: doubled up to this
    # rdkafka: input records scored into the next transaction while the previous one commits (0: wait for it)
    ("VIGIL_TXN_MAX_RECORDS", "txn_max_records", True, "records"),
    ("VIGIL_TXN_MIN_INTERVAL", "txn_min_interval_s", True, "seconds"),  # rdkafka: least time between two sends
    ("VIGIL_FETCH_MAX_WAIT", "fetch_max_wait_s", True, "seconds"),  # the broker's wait for more records
    ("VIGIL_FETCH_MIN_BYTES", "fetch_min_bytes", False, "bytes"),  # rdkafka: ... unless this much is there
    ("VIGIL_POLL_RECORDS", "poll_records", False, "records"),  # rdkafka: input records one loop turn scores at most
    ("VIGIL_TXN_TIMEOUT", "txn_timeout_s", False, "seconds"),  # rdkafka: a dead worker's open transaction ends
    ("BROKER_SESSION_TIMEOUT", "session_timeout_s", False, "seconds"),  # group membership (faust's names)
    ("BROKER_HEARTBEAT_INTERVAL", "heartbeat_interval_s", False, "seconds"),
    # rdkafka: how long a state changed only by readings may wait before it is written (0: every change)
    ("VIGIL_STATE_WRITE_SECONDS", "state_write_s", True, "seconds"),
    ("VIGIL_STATE_WRITE_RECORDS", "state_write_records", True, "records"),  # ... or readings of its partition
    ("VIGIL_STATE_WRITE_PATIENTS", "state_write_patients", True, "patients"),  # ... and how many per partition
    ("VIGIL_GC_SECONDS", "gc_full_s", True, "seconds"),  # rdkafka: a full garbage collection this often (0: Python's)
    ("VIGIL_GIL_SWITCH", "gil_switch_s", False, "seconds"),  # rdkafka: Python's thread switch interval
    ("VIGIL_SPIN_SECONDS", "spin_s", True, "seconds"),  # rdkafka: poll without sleeping this long after a record
    ("VIGIL_SPIN_BUSY", "spin_busy", True, "share"),  # ... while the loop works at least this share of the time
    ("VIGIL_RDKAFKA_STATS", "rdkafka_stats_s", True, "seconds"),  # rdkafka: log librdkafka's statistics (0: never)
    ("VIGIL_LOOP_STATS", "loop_stats_s", False, "seconds"),  # rdkafka, batch: how often the loop logs where time went
)


@dataclass(frozen=True, slots=True)
class WorkerTiming:
    """The worker runtimes' timing (README "Settings"); read once, so a bad value stops the worker at start."""

    tick_s: float = 60.0
    commit_interval_s: float = 0.05
    txn_retry_backoff_s: float = 0.002
    txn_retry_backoff_max_s: float = 0.1
    txn_max_records: float = 20_000
    # 20 ms and 10 ms: with the broker on ZGC they took 46-112 ms off p99 at half the drained rate and 13-21 ms off
    # p50 at half and at a quarter, in three runs of three (bench/README.md, twenty-first session). With G1
    # pausing the broker, their extra broker work had cost that back at half load (twentieth session).
    txn_min_interval_s: float = 0.02
    fetch_max_wait_s: float = 0.01  # with fetch_min_bytes out of reach, a paced worker wakes every 10 ms
    fetch_min_bytes: float = 1_048_576  # (fewer wakes of an idle core: bench/README.md, fifteenth session)
    poll_records: float = 5_000
    txn_timeout_s: float = 10.0
    session_timeout_s: float = 60.0
    heartbeat_interval_s: float = 3.0
    state_write_s: float = 300.0
    state_write_records: float = 200_000
    state_write_patients: float = 5_000  # ~7.5 KB in memory each (bench/README.md, sixth session)
    gc_full_s: float = 60.0
    gil_switch_s: float = 0.0005  # Python's own is 0.005 (bench/README.md, eleventh session)
    # spinning between fetches while the loop is at least half busy: lower half-load p99 in three pairs of five
    # (73 ms against 364 without), not in slow hours (bench/README.md, twenty-fifth session); 0 spins at any load
    spin_s: float = 0.05
    spin_busy: float = 0.5
    rdkafka_stats_s: float = 0.0  # a diagnostic: each interval a line per client (rdkafka_stats.py)
    loop_stats_s: float = 10.0  # the loop's own line (worker_loop.LoopStats); 1 lines it up with (d)'s seconds
    slot: str | None = None  # VIGIL_WORKER_SLOT: the rdkafka runtime's stable transactional id per worker
    cpu_latency_us: int | None = None  # VIGIL_CPU_LATENCY_US: a PM QoS request held by the worker (cpu_latency.py)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerTiming:
        values: dict[str, float] = {}
        for name, attr, zero_ok, unit in WORKER_TIMING:
            text = env.get(name, "").strip()
            if not text:  # the field's default
                continue
            try:
                value = float(text)
            except ValueError:
                raise ConfigError(f"{name} must be a number of {unit}, not {text!r}") from None
            if unit == "share" and not 0 <= value <= 1:
                raise ConfigError(f"{name} must be a share from 0 to 1, not {text!r}")
            if not (value >= 0 if zero_ok else value > 0) or value == float("inf"):
                least = "zero or more" if zero_ok else "a positive number of"
                raise ConfigError(f"{name} must be {least} {unit}, not {text!r}")
            values[attr] = value
        return cls(**values, slot=env.get("VIGIL_WORKER_SLOT", "").strip() or None,
                   cpu_latency_us=cpu_latency_us_of(env.get("VIGIL_CPU_LATENCY_US", "").strip()))


CPU_LATENCY_MAX_US: Final = 2_000_000_000  # the kernel's own default request (no limit); a 32-bit integer


def cpu_latency_us_of(text: str) -> int | None:
    """VIGIL_CPU_LATENCY_US: unset (no request) or whole microseconds, zero or more."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > CPU_LATENCY_MAX_US:
        raise ConfigError(f"VIGIL_CPU_LATENCY_US must be whole microseconds from 0 to {CPU_LATENCY_MAX_US}, "
                          f"not {text!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class Settings:
    """What every vigil process needs to know about its deployment."""

    bootstrap: str = "127.0.0.1:9092"
    namespace: str | None = None
    pseudonym_secret: bytes = DEFAULT_SECRET.encode()
    home: Path = Path(".vigil")
    worker_id: str = "vigil-monitor"
    worker_web_port: int = 6066
    kafka_port: int = 9092
    timing: WorkerTiming = field(default_factory=WorkerTiming)

    @property
    def worker_group(self) -> str:
        return f"{self.namespace}.{self.worker_id}" if self.namespace else self.worker_id

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        port_text = env.get("VIGIL_KAFKA_PORT", "9092")
        web_text = env.get("VIGIL_WORKER_WEB_PORT", "6066")
        try:
            port = int(port_text)
            web_port = int(web_text)
        except ValueError as exc:
            raise ConfigError(f"VIGIL_KAFKA_PORT / VIGIL_WORKER_WEB_PORT must be integers: {exc}") from exc
        secret = env.get("VIGIL_PSEUDONYM_SECRET", DEFAULT_SECRET).encode()
        if len(secret) < 16:
            raise ConfigError("VIGIL_PSEUDONYM_SECRET must be at least 16 characters")
        return cls(
            bootstrap=env.get("VIGIL_BOOTSTRAP", f"127.0.0.1:{port}"),
            namespace=env.get("VIGIL_NAMESPACE") or None,
            pseudonym_secret=secret,
            home=Path(env.get("VIGIL_HOME", ".vigil")),
            worker_id=env.get("VIGIL_WORKER_ID", "vigil-monitor"),
            worker_web_port=web_port,
            kafka_port=port,
            timing=WorkerTiming.from_env(env),
        )
