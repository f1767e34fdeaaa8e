"""One reading's feature vector in the worker (live_vector) vs the pandas training path on the same window.

Usage: python bench/bench_features.py [--n 300] [--model-store DIR --version V]
Prints microseconds per reading and ratios measured in the same run: live_vector against feature_frame
on the same 6.5-hour window (the baseline), and AR2's forecast for scale. Goal: live_vector < 1 ms.
With a model store it also times a full GBForecaster.forecast (features + 6 tree ensembles).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.baseline import AR2
from models.features import WINDOW, context_from_frame, feature_frame, live_vector
from models.simulate import SimJob, simulate_patient

warnings.filterwarnings("ignore")  # simglucose's gym import warns about distutils


def per_call_us(fn: Callable[[], object], n: int) -> float:
    fn()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--model-store", default=None)
    parser.add_argument("--version", default=None)
    args = parser.parse_args()

    readings = simulate_patient(SimJob("adult#004", 2, 3, b"bench-secret-0123456789"))
    at = readings.measured_at.iloc[-1]
    window = readings[(readings.measured_at > at - WINDOW) & (readings.measured_at <= at)]
    cgm = window[window.kind == "cgm"]
    times = [t.to_pydatetime() for t in cgm.measured_at]
    values = cgm.value.tolist()
    context = context_from_frame(window)
    now = at.to_pydatetime()

    live = per_call_us(lambda: live_vector(times, values, now, context), args.n)
    frame = per_call_us(lambda: feature_frame(window), max(10, args.n // 10))
    ar2 = per_call_us(lambda: AR2().forecast(times, values, now), args.n)
    print(f"window: {len(cgm)} CGM readings, {len(context)} context events")
    print(f"live_vector          {live:9.1f} us/reading   goal < 1000 us: {'met' if live < 1000 else 'NOT met'}")
    print(f"feature_frame window {frame:9.1f} us/reading   live is {frame / live:.1f}x faster")
    print(f"AR2 forecast         {ar2:9.1f} us/reading   live features cost {live / ar2:.1f}x an AR2 forecast")
    if args.model_store:
        from models.registry import forecaster_for, load, promoted_version

        store = Path(args.model_store)
        version = args.version or promoted_version(store)
        if version is None:
            print("no --version and nothing promoted in the store")
            return 2
        fc = forecaster_for(load(store, version), str(window.patient_key.iloc[0]))
        full = per_call_us(lambda: fc.forecast(times, values, now, context), max(10, args.n // 3))
        print(f"GB forecast          {full:9.1f} us/reading   {full / ar2:.1f}x an AR2 forecast")
    return 0


if __name__ == "__main__":
    sys.exit(main())
