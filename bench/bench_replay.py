"""Replay throughput at --speed max vs a raw kafka-python producer on the same records (a ratio), and the
offline evaluation rate in readings/s, before/after side by side in one run.

The offline part runs `monitor.evaluate.evaluate` in child processes on the same Parquet file: once with the
monitor/ and models/ packages of --baseline-rev (exported from git, first on PYTHONPATH) and once with the working
tree, serially and with --workers processes; each measurement is the best of --repeat runs after a warm-up (model
lookup and imports are start-up costs, not per reading). The children also print a digest of every alert, so the
run shows that before, after and parallel produce the same alerts.

The end-to-end part measures `vigil evaluate <file> --policy default` as a user runs it (file -> Readings ->
evaluate -> report.md with its two PNGs): in a warm child process (`monitor.evaluate.cli_evaluate` itself, best of
--repeat after a warm-up, so imports are excluded) and as whole commands (`python -m monitor evaluate`, interpreter
start-up and imports included), for --baseline-rev, --e2e-rev (the tree before the loading work) and this tree, with
a digest of the report files and the printed metrics showing they are the same.

Usage: python bench/bench_replay.py [--bootstrap 127.0.0.1:PORT] [--patients 10] [--days 7] [--offline-only]
       [--e2e-only] [--baseline-rev 87d2168] [--e2e-rev dcbdfca] [--workers 2] [--repeat 3] [--model-store DIR]
Without --bootstrap it starts its own broker (vigil's LocalKafka) on a free port and removes it afterwards.
Without --model-store the default policy uses AR2 (an empty model store), as the worker does when nothing is
promoted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECRET = b"vigil-bench-secret-0123456789"


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    from monitor.kafka_local import LocalKafka, free_port

    with tempfile.TemporaryDirectory() as d:
        local = LocalKafka(Path(d), port=free_port(), controller_port=free_port())
        local.up()
        try:
            yield local.bootstrap
        finally:
            local.destroy()


def raw_rate(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    """The baseline: the same keys and bytes, pre-serialized, through a bare producer with the same settings."""
    from kafka import KafkaProducer

    raw = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5,
                        max_in_flight_requests_per_connection=5)
    t = time.perf_counter()
    futures = [raw.send(topic, key=k, value=v) for k, v in payloads]
    raw.flush()
    for f in futures:
        f.get(timeout=60)
    rate = len(payloads) / (time.perf_counter() - t)
    raw.close()
    return rate


def replay_rates(source: Path, bootstrap: str | None) -> tuple[float, float, int]:
    """(raw producer readings/s, replay readings/s, readings sent)."""
    from monitor import kafka_admin, topics
    from monitor.reading_table import load_readings
    from monitor.records import to_json
    from monitor.replay import ReplayFilter, run_replay, schedule

    readings = load_readings(source)
    with broker(bootstrap) as boot:
        raw_ns, rep_ns = f"benchraw{time.time_ns()}", f"benchrep{time.time_ns()}"
        for ns in (raw_ns, rep_ns):
            kafka_admin.create_topics(boot, [s for s in topics.contract(ns) if s.name.endswith(topics.READINGS)])
        payloads = [(r.patient_key.encode(), to_json(r)) for r in schedule(readings)]
        raw = raw_rate(boot, topics.namespaced(topics.READINGS, raw_ns), payloads)
        t = time.perf_counter()
        result = run_replay(source, boot, topics.namespaced(topics.READINGS, rep_ns), None, ReplayFilter(),
                            show_progress=False)
        replay = result.sent / (time.perf_counter() - t)  # file load + schedule + publish + flush
    assert result.sent == len(readings)
    return raw, replay, result.sent


def child(source: Path, workers: int, repeat: int) -> dict[str, Any]:
    """Runs in a child process (the baseline's or this tree's packages): best-of-repeat evaluation rates."""
    import hashlib

    from monitor.evaluate import evaluate
    from monitor.policies import POLICIES
    from monitor.reading_table import load_readings

    readings = load_readings(source)
    evaluate(readings[:300], ["default"])  # warm-up: the model lookup, lazy imports
    kwargs = {"workers": workers} if workers > 1 else {}
    out: dict[str, Any] = {"readings": len(readings), "rates": {}, "alerts": {}, "digest": {}}
    for name in [*POLICIES, "all"]:
        names = list(POLICIES) if name == "all" else [name]
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            evaluation = evaluate(readings, names, **kwargs)
            best = min(best, time.perf_counter() - t)
        out["rates"][name] = len(readings) / best
        if name != "all":
            alerts = evaluation.alerts[name]
            out["alerts"][name] = len(alerts)
            text = "\n".join(f"{a.alert_id}|{a.at.isoformat()}|{a.kind}|{a.value_mgdl}" for a in alerts)
            out["digest"][name] = hashlib.sha256(text.encode()).hexdigest()[:12]
    return out


def report_digest(out: Path, printed: str) -> str:
    """The report files' bytes and the printed metric lines (the timing line left out)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(out.iterdir()):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    h.update("\n".join(line for line in printed.splitlines() if not line.startswith("vigil: evaluated")).encode())
    return h.hexdigest()[:12]


def child_e2e(source: Path, workers: int, repeat: int) -> dict[str, Any]:
    """Runs in a child process: `vigil evaluate <source> --policy default` through the command's own function,
    best of repeat after a warm-up run (imports, the model lookup)."""
    import io

    from monitor.evaluate import cli_evaluate

    def once(out: Path) -> tuple[float, str]:
        args = argparse.Namespace(source=source, policies=["default"], out=out, format="md", acks=None,
                                  patient=None, day=None, workers=workers)
        printed = io.StringIO()
        t = time.perf_counter()
        with contextlib.redirect_stdout(printed):
            cli_evaluate(args, None)
        return time.perf_counter() - t, printed.getvalue()

    with tempfile.TemporaryDirectory() as d:
        once(Path(d) / "warm-up")
        runs = [once(Path(d) / f"run{i}") for i in range(repeat)]
        digests = {report_digest(Path(d) / f"run{i}", printed) for i, (_, printed) in enumerate(runs)}
    best = min(seconds for seconds, _ in runs)
    return {"seconds": best, "digest": digests.pop() if len(digests) == 1 else "differs between runs"}


def command_seconds(source: Path, pythonpath: Path | None, workers: int, repeat: int, env: dict[str, str]
                    ) -> tuple[float, str]:
    """Best wall time of `python -m monitor evaluate <source> --policy default` as a whole command."""
    env = with_path(env, pythonpath)
    best, digests = float("inf"), set()
    with tempfile.TemporaryDirectory() as d:
        for i in range(repeat):
            out = Path(d) / f"run{i}"
            command = [sys.executable, "-m", "monitor", "evaluate", str(source), "--policy", "default", "--out",
                       str(out)] + (["--workers", str(workers)] if workers > 1 else [])
            t = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=d)
            best = min(best, time.perf_counter() - t)
            digests.add(report_digest(out, done.stdout))
    return best, digests.pop() if len(digests) == 1 else "differs between runs"


def with_path(env: dict[str, str], pythonpath: Path | None) -> dict[str, str]:
    env = dict(env)
    if pythonpath is not None:
        env["PYTHONPATH"] = f"{pythonpath}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def run_child(source: Path, pythonpath: Path | None, workers: int, repeat: int, env: dict[str, str],
              mode: str = "--child") -> dict[str, Any]:
    env = with_path(env, pythonpath)
    command = [sys.executable, str(Path(__file__).resolve()), mode, str(source), "--workers", str(workers),
               "--repeat", str(repeat)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True,
                          cwd=tempfile.gettempdir() if pythonpath is not None else ROOT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def export(rev: str, into: Path) -> Path:
    """monitor/ and models/ of a commit, for the "before" side."""
    archive = subprocess.run(["git", "archive", rev, "monitor", "models"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def end_to_end(source: Path, sides: list[tuple[str, Path | None]], workers: int, repeat: int,
               env: dict[str, str]) -> list[dict[str, Any]]:
    """Each side's `vigil evaluate --policy default` in a warm process and as a whole command; this tree (the side
    without a path) also with `--workers`."""
    rows = []
    for label, path in sides:
        for w in ([1, workers] if path is None and workers > 1 else [1]):
            warm = run_child(source, path, w, repeat, env, mode="--child-e2e")
            cold, digest = command_seconds(source, path, w, repeat, env)
            rows.append({"side": label if w == 1 else f"{label} --workers {w}", "warm": warm["seconds"],
                         "cold": cold, "digest": {warm["digest"], digest}})
    return rows


def print_end_to_end(rows: list[dict[str, Any]], n: int, repeat: int) -> None:
    print(f"vigil evaluate <file> --policy default, end to end (file -> Readings -> evaluate -> report), best of "
          f"{repeat}")
    print(f"  {'side':28} {'warm process':>22} {'whole command':>24}")
    for row in rows:
        print(f"  {row['side']:28} {row['warm']:8.3f} s {n / row['warm']:9.0f}/s "
              f"{row['cold']:9.3f} s {n / row['cold']:9.0f}/s")
    digests = set().union(*(row["digest"] for row in rows))
    print(f"  report files + printed metrics identical on every side and run: {len(digests) == 1}  "
          f"({', '.join(sorted(digests))})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bootstrap", default=None)
    ap.add_argument("--patients", type=int, default=10)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--offline-only", action="store_true", help="skip the replay/broker part")
    ap.add_argument("--e2e-only", action="store_true", help="only the end-to-end `vigil evaluate` part")
    ap.add_argument("--baseline-rev", default="87d2168", help="commit whose engine is the 'before' side")
    ap.add_argument("--e2e-rev", default="dcbdfca",
                    help="a second 'before' for the end-to-end part (default: before the file-loading work)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model-store", default=None, help="measure the default policy with this model store")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-e2e", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.workers, args.repeat)))
        return
    if args.child_e2e is not None:
        print(json.dumps(child_e2e(args.child_e2e, args.workers, args.repeat)))
        return
    from monitor.reading_table import write_reading_file
    from monitor.synthetic_cohort import CohortSpec, generate

    readings = generate(CohortSpec(patients=args.patients, days=args.days, seed=1), SECRET)
    n = len(readings)
    with tempfile.TemporaryDirectory() as d:
        source = write_reading_file(readings, Path(d) / "cohort.parquet")
        env = dict(os.environ)
        store = args.model_store or str(Path(d) / "empty-model-store")
        Path(store).mkdir(exist_ok=True)
        env["VIGIL_MODEL_STORE"] = str(Path(store).resolve())
        base = export(args.baseline_rev, Path(d) / "base")
        e2e = end_to_end(source, [(args.baseline_rev, base), (args.e2e_rev, export(args.e2e_rev, Path(d) / "e2e")),
                                  ("after", None)], args.workers, args.repeat, env)
        if not args.e2e_only:
            before = run_child(source, base, 1, args.repeat, env)
            after = run_child(source, None, 1, args.repeat, env)
            parallel = run_child(source, None, args.workers, args.repeat, env) if args.workers > 1 else None
        replay = None if args.offline_only or args.e2e_only else replay_rates(source, args.bootstrap)

    print(f"readings             {n:10d}  ({args.patients} patients x {args.days} days, seed 1)")
    print(f"machine              {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end; "
          f"model: {'AR2 (empty store)' if args.model_store is None else args.model_store}")
    print_end_to_end(e2e, n, args.repeat)
    if args.e2e_only:
        return
    if replay is not None:
        raw, rate, _ = replay
        print(f"raw producer         {raw:10.0f} readings/s  (pre-serialized bytes, acks=all, idempotent)")
        print(f"replay --speed max   {rate:10.0f} readings/s  (Parquet file -> topic, ReadingPublisher)")
        print(f"ratio replay/raw = {rate / raw:.2f}  (goal >= 0.5)")
    head = f"after x{args.workers} procs" if parallel else ""
    print(f"offline readings/s   {'before ' + args.baseline_rev:>16} {'after (1 proc)':>16} {head:>16}  "
          f"after/before")
    for name in before["rates"]:
        cells = [before["rates"][name], after["rates"][name]] + ([parallel["rates"][name]] if parallel else [])
        print(f"  {name:18} " + " ".join(f"{c:16.0f}" for c in cells)
              + f"  x{cells[-1] / cells[0]:.1f}")
    print("  (goal >= 50000 readings/s for 'default', the production engine; best of "
          f"{args.repeat} runs each)")
    same = all(before["digest"][k] == after["digest"][k] and (parallel is None or parallel["digest"][k]
               == after["digest"][k]) for k in before["digest"])
    print(f"alerts identical before/after/parallel: {same}  "
          + ", ".join(f"{k} {after['alerts'][k]}" for k in after["alerts"]))


if __name__ == "__main__":
    main()
