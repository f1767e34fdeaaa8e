"""The rdkafka loop's scoring path in one process, CPU us per reading, without a broker.

The same calls the loop makes (monitor/rdkafka_worker.py): the feed is split by partition like Kafka's keyed
records, each poll-sized batch goes through `worker_core.handle()` once per partition, then every partition's
tables are flushed. Its numbers are the in-process column of bench/README.md (eighth and ninth sessions):
what the compiled scoring costs alone, next to what `python -m bench` measures with a broker on the same box.
Usage: python -m bench.loop_path [--patients 2000] [--dipping 0.3] [--readings 60000] [--rounds 3] [--batch 5000]
       [--evict-kib N] [--idle-ms MS] [--spin-ms MS]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench import workload
from models.registry import worker_forecasters
from monitor import compiled
from monitor.config import WorkerTiming
from monitor.poll_replay import score_poll
from monitor.records import Reading, to_json
from monitor.state_cache import StateCache
from monitor.topics import PARTITIONS, partition_of_key
from monitor.worker_core import PartitionTables, StateWrites, WorkerCore, utc_now
from monitor.worker_loop import FullCollections


@dataclass(frozen=True)
class Pass:
    """One pass over the feed: CPU per reading and what came out (so two batch sizes can be compared)."""

    us_per_reading: float
    readings: int
    outputs: Counter[str]


def run_once(feed: list[Reading], batch: int, model_store: Path, evict_kib: int = 0, idle_ms: float = 0.0,
             spin_ms: float = 0.0) -> Pass:
    """Scores the feed once through fresh tables, `batch` readings per poll; CPU time of the scoring only.

    evict_kib > 0 copies that much memory between two polls (not timed), so the patients' states are cold at each
    poll: a test of whether cold caches make a paced worker's reading dearer (bench/README.md, fourteenth session:
    only 0-3 us). idle_ms > 0 sleeps that long between two polls (not timed), as a paced worker waits for its next
    fetch: the idle core is what makes its reading dearer on this box (bench/README.md, fifteenth session).
    spin_ms > 0 keeps the core busy that long between two polls instead, as a VIGIL_SPIN_SECONDS worker does
    (twenty-fourth session)."""
    timing = WorkerTiming()
    core = WorkerCore(clock=utc_now, forecaster_for=worker_forecasters(model_store))
    cache = StateCache()
    writes = StateWrites(timing.state_write_s, int(timing.state_write_records), int(timing.state_write_patients))
    tables = {p: PartitionTables(cache, writes) for p in range(PARTITIONS)}
    records = [(partition_of_key(r.patient_key), to_json(r)) for r in feed]
    outputs: Counter[str] = Counter()
    source, sink = bytes(evict_kib * 1024), bytearray(evict_kib * 1024)
    took = 0.0
    for start in range(0, len(records), batch):
        if evict_kib:
            sink[:] = source  # through the caches: what other processes leave in them between two polls
        if idle_ms:
            time.sleep(idle_ms / 1000)  # the core idles, as a paced worker's does between two fetches
        if spin_ms:
            until = time.perf_counter() + spin_ms / 1000
            while time.perf_counter() < until:  # the core stays busy, as a spinning worker's does
                pass
        began = time.process_time()
        outputs.update(score_poll(records, start, min(start + batch, len(records)), tables, core))
        took += time.process_time() - began
    return Pass(1e6 * took / max(len(feed), 1), len(feed), outputs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.loop_path", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--dipping", type=float, default=0.3, help="share of patients with a dip every 6 h (latency "
                                                                 "feed: 1.0)")
    ap.add_argument("--readings", type=int, default=60_000)
    ap.add_argument("--rounds", type=int, default=3, help="passes over the feed, each with fresh tables")
    ap.add_argument("--batch", type=int, default=5000, help="readings per poll (paced: ~100, drained: 5000+)")
    ap.add_argument("--first-step", type=int, default=0, help="5-minute step the feed starts at (latency: 60)")
    ap.add_argument("--seed", type=int, default=7, help="patients' seed (the latency feed's dippers: 9)")
    ap.add_argument("--evict-kib", type=int, default=0, help="memory copied between two polls, not timed, so "
                                                             "the states are cold at each poll (e.g. 8192)")
    ap.add_argument("--idle-ms", type=float, default=0.0, help="sleep between two polls, not timed, as a paced "
                                                                 "worker idles between fetches (e.g. 10)")
    ap.add_argument("--spin-ms", type=float, default=0.0, help="busy wait between two polls, not timed, as a "
                                                                 "worker with VIGIL_SPIN_SECONDS waits (e.g. 10)")
    args = ap.parse_args(argv)
    if (min(args.patients, args.readings, args.rounds, args.batch) < 1
            or min(args.evict_kib, args.idle_ms, args.spin_ms) < 0):
        ap.error("--patients, --readings, --rounds and --batch must be at least 1, --evict-kib, --idle-ms and "
                 "--spin-ms at least 0")
    print(f"scoring hot path: {compiled.status().describe()}", file=sys.stderr)
    feed = workload.readings(workload.patients(args.patients, seed=args.seed, dip_share=args.dipping),
                             args.readings, first_step=args.first_step)
    FullCollections(60).install()  # the worker's collector settings
    with tempfile.TemporaryDirectory() as empty_store:  # no promoted model: AR2, as in the bench
        for n in range(args.rounds):
            result = run_once(feed, args.batch, Path(empty_store), args.evict_kib, args.idle_ms, args.spin_ms)
            gc.collect()
            print(f"round {n + 1}/{args.rounds}: {result.us_per_reading:.2f} us a reading "
                  f"({result.readings:,} readings, {dict(result.outputs)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
