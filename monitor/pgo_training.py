"""The workload a profile-guided build of the hot path is trained on: what a worker meets, scored in process.

`python -m monitor.build_compiled` compiles the hot path once with gcc's -fprofile-generate, runs this module
against that build, and compiles again with the counts it left (-fprofile-use): the hot paths laid out together,
the error paths apart, branches ordered as they go. It must look like production, not like one benchmark:
seeded CGM traces with meals, lows and sensor gaps (monitor.synthetic_cohort), the vitals devices, readings late
and out of order, resends, bad records for the dead-letter path, polls of a paced and of a drained worker, and a
restore from the written states. Usage: python -m monitor.pgo_training [--patients N] [--days D]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Final

from models.registry import worker_forecasters
from monitor import compiled
from monitor.config import WorkerTiming
from monitor.poll_replay import score
from monitor.records import Reading, ReadingKind, Source, reading_id_for, to_json
from monitor.state_cache import StateCache
from monitor.synthetic_cohort import CohortSpec, generate
from monitor.topics import PARTITIONS, partition_of_key
from monitor.worker_core import STATE, PartitionTables, StateWrites, WorkerCore, utc_now

SECRET: Final = b"pgo-training-only"  # pseudonymous keys of synthetic patients: no real identity behind them
VITALS_EVERY: Final = 3  # a vitals reading every third CGM point: heart rate, SpO2 and blood pressure in turn
POLLS: Final = (300, 5000)  # readings a poll: a paced worker's, then a drained one's


def _vitals(cgm: Reading, index: int, rng: random.Random) -> Reading:
    """A heart rate, SpO2 or blood-pressure reading of the CGM's patient at the same time (some abnormal)."""
    kind, unit, value, components = (
        (ReadingKind.HEART_RATE, "bpm", rng.gauss(78, 18), {}),
        (ReadingKind.SPO2, "%", min(100.0, rng.gauss(95, 3)), {}),
        (ReadingKind.BLOOD_PRESSURE, "mmHg", rng.gauss(132, 18), {"diastolic": round(rng.gauss(84, 9), 1)}),
    )[index % 3]
    device = f"{cgm.device_id}-{kind.value}"
    return Reading(reading_id=reading_id_for(device, kind.value, index, cgm.measured_at),
                   patient_key=cgm.patient_key, device_id=device, kind=kind, value=round(value, 1), unit=unit,
                   measured_at=cgm.measured_at, received_at=cgm.received_at + timedelta(seconds=2),
                   source=Source.BLE, sequence=index, components=components)


def feed(patients: int, days: int, seed: int = 5) -> list[tuple[int, bytes]]:
    """(partition, record) pairs, interleaved across patients in event time as a topic holds them, with the
    disorder of a real one: ~3 % swapped with their neighbour (late), ~1 % sent twice, ~0.2 % not a reading."""
    rng = random.Random(seed)
    readings = generate(CohortSpec(patients=patients, days=days, seed=seed), SECRET)
    with_vitals: list[Reading] = []
    for i, r in enumerate(readings):
        with_vitals.append(r)
        if r.kind is ReadingKind.CGM and i % VITALS_EVERY == 0:
            with_vitals.append(_vitals(r, i // VITALS_EVERY, rng))
    with_vitals.sort(key=lambda r: r.measured_at)
    records = [(partition_of_key(r.patient_key), to_json(r)) for r in with_vitals]
    for i in range(1, len(records)):
        if rng.random() < 0.03:
            records[i - 1], records[i] = records[i], records[i - 1]
    out: list[tuple[int, bytes]] = []
    for record in records:
        out.append(record)
        if rng.random() < 0.01:
            out.append(record)
        if rng.random() < 0.002:
            out.append((record[0], b'{"kind": "cgm", "value": "not a number"}'))
    return out


def restored(tables: dict[int, PartitionTables], writes: StateWrites) -> dict[int, PartitionTables]:
    """New owners' tables read back from the states the old ones wrote (a rebalance or a restart)."""
    fresh = {p: PartitionTables(StateCache(), writes) for p in tables}
    for p, old in tables.items():
        old.flush(time.time(), True, None)  # every waiting state written, as on a stop
        for key, value in old.raw.items():
            fresh[p].restore(STATE, key, value)
    return fresh


def train(patients: int, days: int) -> Counter[str]:
    """Runs the whole workload once; returns the outputs by topic (so a caller can see it did real work)."""
    timing = WorkerTiming()
    writes = StateWrites(timing.state_write_s, int(timing.state_write_records), int(timing.state_write_patients))
    records = feed(patients, days)
    half = len(records) // 2
    outputs: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as empty_store:  # no promoted model: the AR2 baseline
        core = WorkerCore(clock=utc_now, forecaster_for=worker_forecasters(Path(empty_store)))
        for poll in POLLS:
            tables = {p: PartitionTables(StateCache(), writes) for p in range(PARTITIONS)}
            outputs += score(records[:half], poll, tables, core)
            outputs += score(records[half:], poll, restored(tables, writes), core, half)
    return outputs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m monitor.pgo_training", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=120, help="synthetic patients (%(default)s)")
    ap.add_argument("--days", type=int, default=2, help="days of readings each (%(default)s)")
    ap.add_argument("--require-compiled", action="store_true",
                    help="fail (exit 2) unless the compiled hot path is in use: a profile of plain Python is empty")
    args = ap.parse_args(argv)
    if args.patients < 1 or args.days < 1:
        ap.error("--patients and --days must be at least 1")
    status = compiled.status()
    if args.require_compiled and not status.compiled:
        print(f"not training: the hot path is {status.describe()}", file=sys.stderr)
        return 2
    began = time.monotonic()
    outputs = train(args.patients, args.days)
    print(f"trained on {args.patients} patients x {args.days} days ({status.describe()}) in "
          f"{time.monotonic() - began:.0f} s: {dict(sorted(outputs.items()))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
