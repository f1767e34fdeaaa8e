"""The worker's pure path in one process, CPU us per reading, before/after side by side (no broker).

Parse, state load, engine, state dump and alert encoding for N patients' feed; the state codec as it is and as it
was at --codec-rev; the engine with and without monitor.forecast_memo, for AR2 and (if given) a model store.
Usage: python -m bench.pure_path [--patients 60] [--readings 3000] [--codec-rev 0063023] [--model-store DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench import workload
from bench.variant_worker import patch_from_git
from models.registry import worker_forecasters
from monitor import engine, state_codec
from monitor.forecast_memo import ForecastMemo
from monitor.records import Reading, from_json, to_json


def codec_cost(raws: list[bytes], states: list[engine.MonitorState], codec: object) -> tuple[float, float]:
    t = time.process_time()
    for raw in raws:
        codec.loads(raw, engine.MonitorState)  # type: ignore[attr-defined]
    load = (time.process_time() - t) / len(raws)
    t = time.process_time()
    for s in states:
        codec.dumps(s)  # type: ignore[attr-defined]
    return load, (time.process_time() - t) / len(states)


def engine_cost(feed: list[Reading], lookup: object) -> float:
    states: dict[str, engine.MonitorState] = {}
    t = time.process_time()
    for r in feed:
        states[r.patient_key] = engine.process(states.get(r.patient_key), r, r.received_at,
                                               forecaster=lookup(r.patient_key)).state  # type: ignore[operator]
    return (time.process_time() - t) / len(feed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--patients", type=int, default=60)
    ap.add_argument("--readings", type=int, default=3000)
    ap.add_argument("--codec-rev", default="0063023")
    ap.add_argument("--model-store", default=None)
    args = ap.parse_args()
    feed = workload.readings(workload.patients(args.patients), args.readings)
    raw = [to_json(r) for r in feed]
    t = time.process_time()
    for b in raw:
        from_json(b, Reading)
    print(f"parse Reading                 {1e6 * (time.process_time() - t) / len(raw):7.0f} us/reading")
    ar2 = worker_forecasters(Path(tempfile.mkdtemp()) / "empty")
    states: dict[str, engine.MonitorState] = {}
    for r in feed:
        states[r.patient_key] = engine.process(states.get(r.patient_key), r, r.received_at,
                                               forecaster=ar2(r.patient_key)).state
    sample = list(states.values()) * 20
    dumped = [state_codec.dumps(s) for s in sample]
    new = codec_cost(dumped, sample, state_codec)
    current = state_codec
    patch_from_git(f"monitor.state_codec@{args.codec_rev}")
    import monitor.state_codec as old_codec

    old = codec_cost(dumped, sample, old_codec)
    import sys

    sys.modules["monitor.state_codec"] = current
    print(f"state load   before {1e6 * old[0]:6.0f}  after {1e6 * new[0]:6.0f} us/state  ({old[0] / new[0]:.1f}x)")
    print(f"state dump   before {1e6 * old[1]:6.0f}  after {1e6 * new[1]:6.0f} us/state")
    lookups = [("AR2", ar2)]
    if args.model_store:
        lookups.append((f"model {args.model_store}", worker_forecasters(Path(args.model_store))))
    for name, lookup in lookups:
        plain = engine_cost(feed, lookup)
        memo = ForecastMemo(lookup)
        memoized = engine_cost(feed, memo)
        print(f"engine {name:30} plain {1e6 * plain:6.0f}  memo {1e6 * memoized:6.0f} us/reading "
              f"({plain / memoized:.1f}x; forecasts {memo.misses} instead of {memo.hits + memo.misses})")


if __name__ == "__main__":
    main()
