"""Cost growth (4): bytes per patient of the worker's table value, and the RSS of holding N patients' values."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import workload
from monitor import engine
from monitor.pseudonym import patient_key


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


def table_rss(n: int, sample: dict[str, bytes]) -> Footprint:
    """RSS of a fresh process (worker modules imported) before and after holding n patients' table values."""
    with tempfile.NamedTemporaryFile("w", suffix=".hex", delete=False) as fh:
        fh.write("\n".join(v.replace(k.encode(), b"KEYKEYKEY").hex() for k, v in sample.items()))
    try:
        out = subprocess.run([sys.executable, "-m", "bench.table_memory", str(n), fh.name], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).resolve().parents[1]).stdout.split()
    finally:
        Path(fh.name).unlink()
    return Footprint(n, int(out[0]), int(out[1]))
