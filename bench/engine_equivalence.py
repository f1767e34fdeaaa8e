"""Same records as before? Runs the engine of a baseline commit and the working tree's engine over the same
randomized streams (shuffled within and beyond the re-ordering bound, backfills, resends, vitals, other targets,
every third stream through the table bytes) and compares a digest of every alert, summary and the final episodes.

Usage: python -m bench.engine_equivalence [--streams 300] [--baseline-rev 87d2168]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(streams: int) -> str:
    from monitor import engine
    from monitor.records import to_json
    from monitor.targets import DEFAULT_TARGETS, Targets
    from tests.monitor.test_engine_fast_path import stream

    digest, readings, alerts = hashlib.sha256(), 0, 0
    strict = Targets(low=100.0, high=150.0, very_high=220.0, high_persist_min=10.0)
    forecaster = engine.default_forecaster()
    for seed in range(streams):
        targets = strict if seed % 5 == 0 else DEFAULT_TARGETS
        state = None
        for r in stream(random.Random(seed), minutes=12 * 60, vitals=seed % 2 == 0):
            if seed % 3 == 0 and state is not None:
                state = engine.load_state(engine.dump_state(state))
            step = engine.process(state, r, r.received_at, targets=targets, forecaster=forecaster)
            state, readings, alerts = step.state, readings + 1, alerts + len(step.alerts)
            for a in step.alerts:
                digest.update(to_json(a))
            for s in step.summaries:
                digest.update(s.to_json())
        assert state is not None
        digest.update(repr((state.live, state.settled.book, state.duplicates, state.late, state.day,
                            state.catch_up, state.emitted)).encode())
    return f"{readings} readings, {alerts} alert records, digest {digest.hexdigest()[:16]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--streams", type=int, default=300)
    ap.add_argument("--baseline-rev", default="87d2168")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        from monitor import engine

        print(f"engine: {engine.__file__}")
        print(child(args.streams))
        return
    from bench.pure_path import export

    results = []
    with tempfile.TemporaryDirectory() as d:
        for first in (export(args.baseline_rev, Path(d) / "base"), None):
            path = os.pathsep.join([*([str(first)] if first else []), str(ROOT)])
            done = subprocess.run([sys.executable, "-m", "bench.engine_equivalence", "--child", "--streams",
                                   str(args.streams)], env={**os.environ, "PYTHONPATH": path}, cwd=d,
                                  capture_output=True, text=True, check=True)
            lines = done.stdout.strip().splitlines()
            print(lines[0])
            results.append(lines[-1])
    print(f"before {args.baseline_rev}: {results[0]}")
    print(f"after          : {results[1]}")
    print(f"identical: {results[0] == results[1]}")


if __name__ == "__main__":
    main()
