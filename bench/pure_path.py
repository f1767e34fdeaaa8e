"""The worker's pure path in one process, CPU us per reading, before/after side by side (no broker).

For N patients' feed (bench.workload): parse, state load, engine, state dump per reading the way the worker runs
it (the state goes through its table bytes between readings), and the engine on in-memory states (the offline
evaluation's way), for AR2 and (if given) a model store, with and without monitor.forecast_memo; plus the table
value size per patient after 6 h (bench.state_cost.sample_states); and the worker path through
monitor.state_cache.StateCache where the tree has it. Each side runs in its own child process: the
"before" side with monitor/ and models/ of --baseline-rev exported from git first on PYTHONPATH.
Usage: python -m bench.pure_path [--patients 60] [--readings 3000] [--baseline-rev 87d2168] [--model-store DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _cpu(fn: Callable[[], object], n: int) -> float:
    """CPU microseconds per item of fn() (best of 3: the box is shared)."""
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return 1e6 * best / n


def child(patients: int, total: int, model_store: str | None) -> dict[str, Any]:
    """Runs in a child process with whichever monitor/ and models/ come first on sys.path."""
    from bench import state_cost, workload
    from models.registry import worker_forecasters
    from monitor import engine
    from monitor.forecast_memo import ForecastMemo
    from monitor.records import Reading, from_json, to_json

    try:
        from monitor import state_cache
        from monitor.state_cache import StateCache
        # the "before" side predates it (the editable install can still find this tree's module: not that one)
        same_tree = Path(state_cache.__file__).parent == Path(engine.__file__).parent
        cache_type: type[StateCache] | None = StateCache if same_tree else None
    except ImportError:
        cache_type = None
    feed = workload.readings(workload.patients(patients), total)
    raw = [to_json(r) for r in feed]
    out: dict[str, Any] = {"parse": _cpu(lambda: [from_json(b, Reading) for b in raw], len(raw))}
    empty = Path(tempfile.mkdtemp()) / "empty"
    lookups: list[tuple[str, Callable[[str], Any]]] = [("AR2", worker_forecasters(empty))]
    if model_store:
        lookups.append(("model", worker_forecasters(Path(model_store))))
    for name, lookup in lookups:
        for memo in (False, True):
            def fresh(memo: bool = memo, lookup: Callable[[str], Any] = lookup) -> Callable[[str], Any]:
                return ForecastMemo(lookup) if memo else lookup  # a new memo per timed run: nothing carried over

            def in_memory(fresh: Callable[[], Callable[[str], Any]] = fresh) -> None:
                use, states = fresh(), {}
                for r in feed:
                    states[r.patient_key] = engine.process(states.get(r.patient_key), r, r.received_at,
                                                           forecaster=use(r.patient_key)).state

            def worker(fresh: Callable[[], Callable[[str], Any]] = fresh) -> None:
                use, table = fresh(), {}
                for r in feed:
                    state = engine.load_state(table.get(r.patient_key))
                    step = engine.process(state, r, r.received_at, forecaster=use(r.patient_key))
                    table[r.patient_key] = engine.dump_state(step.state)

            tag = f"{name}{' memo' if memo else ''}"
            out[f"engine in memory {tag}"] = _cpu(in_memory, len(feed))
            out[f"load+engine+dump {tag}"] = _cpu(worker, len(feed))
        if cache_type is not None:
            def cached(lookup: Callable[[str], Any] = lookup) -> None:
                cache, table = cache_type(), {}
                for r in feed:
                    state = cache.load(r.patient_key, table.get(r.patient_key))
                    step = engine.process(state, r, r.received_at, forecaster=lookup(r.patient_key))
                    table[r.patient_key] = engine.dump_state(step.state)
                    cache.remember(r.patient_key, table[r.patient_key], step.state)

            out[f"load+engine+dump {name} state cache"] = _cpu(cached, len(feed))
    states: dict[str, Any] = {}
    ar2 = lookups[0][1]
    for r in feed:
        states[r.patient_key] = engine.process(states.get(r.patient_key), r, r.received_at,
                                               forecaster=ar2(r.patient_key)).state
    sample = list(states.values()) * 10
    dumped = [engine.dump_state(s) for s in sample]
    out["state load"] = _cpu(lambda: [engine.load_state(b) for b in dumped], len(dumped))
    out["state dump"] = _cpu(lambda: [engine.dump_state(s) for s in sample], len(sample))
    sizes = state_cost.sample_states(200, 72)
    out["state bytes"] = [sizes.mean_bytes, sizes.p95_bytes, sizes.max_bytes]
    return out


def export(rev: str, into: Path) -> Path:
    """monitor/ and models/ of a commit, for the "before" side."""
    archive = subprocess.run(["git", "archive", rev, "monitor", "models"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_child(args: argparse.Namespace, first: Path | None, cwd: Path) -> dict[str, Any]:
    env = dict(os.environ)
    paths = [str(first)] if first is not None else []
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "bench.pure_path", "--child", "--patients", str(args.patients),
               "--readings", str(args.readings)] + (["--model-store", args.model_store] if args.model_store else [])
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--patients", type=int, default=60)
    ap.add_argument("--readings", type=int, default=3000)
    ap.add_argument("--baseline-rev", default="87d2168")
    ap.add_argument("--model-store", default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.patients, args.readings, args.model_store)))
        return
    if args.model_store:
        args.model_store = str(Path(args.model_store).resolve())  # the children run in a temporary folder
    with tempfile.TemporaryDirectory() as d:
        before = run_child(args, export(args.baseline_rev, Path(d) / "base"), Path(d))
        after = run_child(args, None, Path(d))
    print(f"{args.patients} patients, {args.readings} readings (bench.workload); CPU us per reading, best of 3; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'':40} {'before':>10} {'after':>10}  before/after ({args.baseline_rev} / this tree)")
    for key in [*before, *(k for k in after if k not in before)]:
        if key == "state bytes":
            continue
        b, a = before.get(key), after.get(key)
        if b is None:
            print(f"  {key:38} {'-':>10} {a:10.1f}")
        else:
            print(f"  {key:38} {b:10.1f} {a:10.1f}  x{b / a:.1f}" if a else f"  {key:38} {b:10.1f}")
    (bm, bp, bx), (am, ap_, ax) = before["state bytes"], after["state bytes"]
    print(f"  {'state bytes mean / p95 / max':38} {f'{bm:.0f} / {bp} / {bx}':>18} {f'{am:.0f} / {ap_} / {ax}':>18}"
          "  (200 patients after 6 h; goal <= 2048)")


if __name__ == "__main__":
    main()
