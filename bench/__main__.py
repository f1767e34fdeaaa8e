"""`python -m bench` (make bench): own broker, N patients, raw ceilings vs the vigil worker, latency, scale, memory.

Other scripts in bench/ stay callable on their own (bench_decoders.py, bench_outbox.py).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import clients, cluster, latency, report, state_cost, workload
from monitor import compiled, kafka_local
from monitor.__main__ import RUNTIMES
from monitor.config import ConfigError, cpu_latency_us_of
from monitor.records import Reading
from monitor.topics import ALERTS, READINGS, namespaced

FULL = {"patients": 2000, "readings": 240000, "publish": 30000, "latency_s": 20.0, "warmup_s": 5.0, "scale": [1, 2, 4],
        "sweep": [1000, 10000, 100000], "memory": [10000, 100000], "sample_patients": 200, "sample_steps": 72,
        "commit_intervals": [None, 1.0], "load_shares": [0.5, 0.25],
        "broker_warmup_s": 30.0, "broker_warmup_max_s": 360.0, "warm_readings": 60000, "rehearsals": 0}
QUICK = {"patients": 300, "readings": 45000, "publish": 5000, "latency_s": 8.0, "warmup_s": 2.0, "scale": [1, 2],
         "sweep": [300, 3000], "memory": [2000], "sample_patients": 40, "sample_steps": 36,
        "commit_intervals": [None], "load_shares": [0.5], "broker_warmup_s": 5.0,
         "broker_warmup_max_s": 5.0,
         "warm_readings": 3000, "rehearsals": 0}


def worker_run(bootstrap: str, feed: list[Reading], workers: int, log_dir: Path, timeout_s: float,
               overrides: str | None = None) -> dict[str, Any]:
    """(b) `workers` real workers drain `feed`, produced to a fresh namespace before they start (a backlog: a
    worker faster than the producer would otherwise be measured on the producer's tail); rate from committed
    offsets after the first observed commit (start-up excluded)."""
    ns = cluster.new_namespace(bootstrap)
    topic = namespaced(READINGS, ns)
    payloads = clients.payloads_of(feed)
    produce_s = cluster.preload(bootstrap, topic, payloads)
    with cluster.workers(bootstrap, ns, workers, log_dir, overrides) as procs:
        rss_before = sum(w.rss_kib() for w in procs)
        cpu_before = sum(w.cpu_s() for w in procs)
        progress = cluster.Progress(bootstrap, cluster.group_of(ns), topic)
        try:
            done_before = progress.committed()  # CPU is counted from here: per reading processed since
            drain = cluster.wait_drained(progress, len(payloads), timeout_s, poll_s=0.1)
        finally:
            progress.close()
        rss_after = sum(w.rss_kib() for w in procs)
        cpu = sum(w.cpu_s() for w in procs) - cpu_before
    alerts = cluster.read_all(bootstrap, namespaced(ALERTS, ns))
    return {"workers": workers, "readings": len(payloads), "patients": len({r.patient_key for r in feed}),
            "rate": drain.rate, "measured_records": drain.records, "measured_s": drain.seconds,
            "timed_out": drain.timed_out, "alerts": len(alerts), "preload_s": produce_s,
            "rss_kib_before": rss_before, "rss_kib_after": rss_after, "worker_cpu_s": cpu,
            "worker_cpu_ms_per_reading": 1000 * cpu / max(1, len(payloads) - done_before)}


def raw_run(bootstrap: str, feed: list[Reading]) -> clients.Rate:
    """(a) the raw ceiling: `feed` produced to a fresh namespace, then read and parsed by a plain consumer."""
    topic = namespaced(READINGS, cluster.new_namespace(bootstrap))
    cluster.preload(bootstrap, topic, clients.payloads_of(feed))
    return clients.raw_consume(bootstrap, topic, len(feed))


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


UNTIMED = "drained within its first commit: too few readings to time (raise --readings)"


def _rate(run: dict[str, Any]) -> str:
    """A drain's rate, or n/a when the whole backlog went in the worker's first commit (no interval to time)."""
    return _fmt(run["rate"]) if run["measured_records"] else "n/a"


def _cpu_latency_us(text: str) -> int | None:
    """--cpu-latency-us: the workers' own check of VIGIL_CPU_LATENCY_US, made before anything starts."""
    try:
        return cpu_latency_us_of(text.strip())
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole(least: int, most: int | None = None, unit: str = "number") -> Callable[[str], int]:
    """An argparse type for a whole number (of `unit`) in [least, most], checked before a broker starts."""
    what = "a whole number" if unit == "number" else f"whole {unit}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least or (most is not None and value > most):
            span = f"from {least} to {most}" if most is not None else f"of at least {least}"
            raise argparse.ArgumentTypeError(f"must be {what} {span}, not {text!r}")
        return value
    return parse


_fetch_wait_ms = _whole(0, 300_000, "milliseconds")  # librdkafka's range for fetch.wait.max.ms
_positive_int = _whole(1)
_feed_seconds = _whole(1, 3600, "seconds")


def _broker_property(text: str) -> tuple[str, str]:
    """KEY=VALUE for the bench's broker (server.properties), e.g. num.io.threads=2."""
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9._-]*", key) or not value.strip():
        raise argparse.ArgumentTypeError(f"must be a broker property as KEY=VALUE, e.g. num.io.threads=2, "
                                         f"not {text!r}")
    return key, value.strip()


def _jvm_size(text: str) -> str:
    """A JVM heap size as -Xmx takes it: a number of bytes, or with k, m or g (768m, 3g)."""
    if not re.fullmatch(r"[1-9][0-9]*[kKmMgG]?", text):
        raise argparse.ArgumentTypeError(f"must be a heap size such as 768m or 3g, not {text!r}")
    return text


JIT_QUIET_CORES = 0.05  # the broker's compiler threads' cores over a whole warm-up round (its set-up included)
# below which the broker counts as warm


def broker_warmup(bootstrap: str, broker_pid: int, patients: list[workload.Patient], rate: float,
                  params: dict[str, Any], log_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Paced rounds of `broker_warmup_s` through one worker until the broker's JIT compiler is quiet (or
    `broker_warmup_max_s` passed). A fresh broker's compiler threads took 0.20-0.25 of a core through every
    measured run after the old fixed 30 s, and p99 at half load fell 305 -> 112 ms over five runs in a row on one
    broker as they quietened (twenty-third session); a deployment's broker has run for days."""
    chunk_s = min(params["broker_warmup_s"], params["broker_warmup_max_s"])
    rounds = workload.feed_chunks(patients, max(1, int(rate * chunk_s)), first_step=60)
    spent, sent, jit_cores = 0.0, 0, []
    with cluster.workers(bootstrap, cluster.new_namespace(bootstrap), 1, log_dir) as (worker,):
        topics = namespaced(READINGS, worker.namespace), namespaced(ALERTS, worker.namespace)
        while True:
            warm = next(rounds)
            jit_before, began = cluster.jit_cpu_s(cluster.thread_cpu_s(broker_pid)), time.monotonic()
            latency.measure(bootstrap, *topics, warm, rate, settle_s=1.0, linger_ms=args.feeder_linger_ms,
                            clock_wait_ms=args.clock_fetch_wait_ms, isolations=tuple(params["clocks"]))
            took = time.monotonic() - began
            spent, sent = spent + took, sent + len(warm)
            jit_cores.append((cluster.jit_cpu_s(cluster.thread_cpu_s(broker_pid)) - jit_before) / took)
            print(f"bench: broker warm-up {spent:.0f} s: its JIT compiler used {jit_cores[-1]:.2f} cores "
                  f"(warm below {JIT_QUIET_CORES:g}, at most {params['broker_warmup_max_s']:g} s)", flush=True)
            quiet = jit_cores[-1] < JIT_QUIET_CORES
            if quiet or spent >= params["broker_warmup_max_s"]:
                break
    return {"readings": sent, "seconds": spent, "rate": rate, "jit_cores": jit_cores, "quiet": quiet}


def latency_runs(share: float, params: dict[str, Any],
                 compare: list[str]) -> list[tuple[float | None, str | None, str]]:
    """(d)'s runs at one load share, in order, as (commit interval, variant, label): the rehearsals (first share
    only; printed, and kept in the JSON with "rehearsal": true), the worker's own settings, a forced commit interval
    (faust), then each --compare variant."""
    runs: list[tuple[float | None, str | None, str]] = []
    if share == params["load_shares"][0]:
        runs += [(None, None, f"rehearsal {i + 1} (not measured)") for i in range(params["rehearsals"])]
    runs.append((None, None, "commit as configured"))
    if params["runtime"] == "faust":  # the batch runtime commits once per poll batch, no interval
        runs += [(i, None, f"commit {i:g} s") for i in params["commit_intervals"] if i is not None]
    runs += [(None, spec.partition("=")[2], f"variant {spec.partition('=')[0]}") for spec in compare]
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a small run (about 3 minutes) that exercises every part")
    ap.add_argument("--only", nargs="*", default=None,
                    choices=["raw", "worker", "scale", "sweep", "publish", "latency", "memory"],
                    help="run only these parts (default: all)")
    ap.add_argument("--patients", type=int)
    ap.add_argument("--readings", type=int)
    ap.add_argument("--sweep", type=int, nargs="*", help="patient counts for the throughput-vs-patients runs")
    ap.add_argument("--worker-rate", type=float, help="use this (b) rate for latency instead of measuring it")
    ap.add_argument("--load-shares", type=float, nargs="+", metavar="SHARE",
                    help="(d)'s paced rates as shares of (b), e.g. 0.5 0.375 0.25 (default 0.5 0.25); the first one "
                         "also warms the broker")
    ap.add_argument("--saturation-runs", type=_positive_int, default=None, metavar="N",
                    help="drains of the latency feed whose median rate is (d)'s 100 %% (default 3, --quick 1)")
    ap.add_argument("--latency-seconds", type=_feed_seconds, default=None, metavar="S",
                    help=f"how long each measured (d) feed runs (default {FULL['latency_s']:g}, --quick "
                         f"{QUICK['latency_s']:g}); a longer one weighs a slow spell of the host less in its p99, "
                         "and prints more 5-s windows to show the spread. A feed takes ~12 KB of memory a reading: "
                         "a feed that would not fit in the memory available is refused")
    ap.add_argument("--feeder-linger-ms", type=float, default=latency.FEEDER_LINGER_MS,
                    help="linger.ms of (d)'s paced feeder (default %(default)g; the wait counts as latency)")
    ap.add_argument("--clock-fetch-wait-ms", type=_fetch_wait_ms, default=latency.CLOCK_FETCH_WAIT_MS,
                    help="fetch.wait.max.ms of (d)'s alert clocks (default %(default)d)")
    ap.add_argument("--uncommitted-clock", action="store_true",
                    help="(d) also stamps alerts with a read_uncommitted clock (how much of the delay is the "
                         "commit); a second consumer on the broker's core")
    ap.add_argument("--broker-property", type=_broker_property, action="append", default=[], metavar="KEY=VALUE",
                    help="a server.properties setting for the bench's broker, after vigil's own (repeatable; "
                         "e.g. num.io.threads=2)")
    ap.add_argument("--broker-heap", type=_jvm_size, default=cluster.BROKER_HEAP, metavar="SIZE",
                    help="the bench broker's heap, -Xmx (default %(default)s: at 768m its collector's cycle every "
                         "~5 s showed in the p99 of each second it ran, bench/README.md)")
    ap.add_argument("--no-broker-gc", action="store_true",
                    help="(d): do not collect the broker's garbage before each measured feed (jcmd GC.run; "
                         "without it a collector cycle may fall in the feed and show in its p99, bench/README.md)")
    ap.add_argument("--broker-dir", type=Path, default=None, metavar="DIR",
                    help=f"where the bench's broker keeps its data (default: {kafka_local.MEMORY_ROOT} when it is "
                         f"a tmpfs with {cluster.BROKER_MIN_FREE >> 30} GiB free, else the system's temporary "
                         "folder; on this VM's disk a fresh topic's first index writes stalled the broker for up "
                         "to 1.25 s, bench/README.md)")
    ap.add_argument("--broker-warmup-max-s", type=_whole(0, None, "seconds"), default=None, metavar="S",
                    help=f"(d)'s paced broker warm-up goes on in rounds of {FULL['broker_warmup_s']:g} s (--quick: "
                         f"{QUICK['broker_warmup_s']:g}) until the broker's JIT compiler is quiet or S seconds passed "
                         f"(default {FULL['broker_warmup_max_s']:g}, --quick {QUICK['broker_warmup_max_s']:g}; 0: no "
                         "warm-up)")
    ap.add_argument("--rehearsals", type=_whole(0, None, "runs"), default=None, metavar="N",
                    help=f"(d) first runs its whole procedure N times with the worker's own settings, at the first "
                         f"load share, unmeasured and printed (default {FULL['rehearsals']}: in the twenty-sixth "
                         f"session the rehearsal was the quickest run; each worker's first seconds pay, bench/README)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per worker drain")
    ap.add_argument("--compare", nargs="*", default=[], metavar="NAME=JSON[;module@rev,...]",
                    help="also run (b) with faust setting overrides and/or modules from an older commit "
                         "(bench.variant_worker), side by side with the current worker")
    ap.add_argument("--model-store", default=None,
                    help="VIGIL_MODEL_STORE for every worker (default: an empty store, so AR2 forecasts)")
    ap.add_argument("--runtime", choices=RUNTIMES, default="rdkafka",
                    help="the worker runtime measured in every part (default rdkafka); (b) also runs the others")
    ap.add_argument("--cpu-latency-us", type=_cpu_latency_us, default=None, metavar="US",
                    help="every worker holds this PM QoS CPU latency request (VIGIL_CPU_LATENCY_US; needs write "
                         "access to /dev/cpu_dma_latency; default: none, or the environment's)")
    ap.add_argument("--pin-worker", action="store_true",
                    help="run each worker on the last CPU and the broker, feeder, clocks and this process on the "
                         "others (a deployment's worker does not share its core with the broker); not with the raw "
                         "and scale parts")
    ap.add_argument("--tag", default=None, help="name for the JSON file (default full/quick)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the broker and workers are cleaned up
    params: dict[str, Any] = dict(QUICK if args.quick else FULL)
    if args.patients:
        params["patients"] = args.patients
    if args.readings:
        params["readings"] = args.readings
    if args.sweep:
        params["sweep"] = args.sweep
    params["saturation_runs"] = args.saturation_runs or (1 if args.quick else 3)
    if args.latency_seconds is not None:
        params["latency_s"] = float(args.latency_seconds)
    if args.load_shares:
        if not all(0 < share <= 1 for share in args.load_shares):
            ap.error("--load-shares must be in (0, 1]")
        params["load_shares"] = args.load_shares
    for spec in args.compare:
        name, eq, variant = spec.partition("=")
        if not eq or not name:
            ap.error(f"--compare {spec!r}: expected NAME=VARIANT")
        try:
            if variant.startswith("runtime:"):
                cluster.runtime_variant(variant)
        except ValueError as exc:
            ap.error(f"--compare {name}: {exc}")
    parts = set(args.only or ["raw", "worker", "scale", "sweep", "publish", "latency", "memory"])
    result: dict[str, Any] = {"machine": report.machine(), "versions": report.versions(), "parameters": params}
    rows: list[tuple[str, str, str]] = []
    log_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-logs-"))
    store = args.model_store or str(log_dir / "empty-model-store")
    os.environ["VIGIL_MODEL_STORE"] = str(Path(store).resolve())  # workers inherit it
    os.environ["VIGIL_WORKER_RUNTIME"] = params["runtime"] = args.runtime  # workers inherit it
    if args.pin_worker:
        if parts & {"raw", "scale"}:  # (a) would share the broker's CPUs, and 2 or 4 workers one CPU
            ap.error("--pin-worker is for one worker a part: add --only with parts other than raw and scale")
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            ap.error(f"--pin-worker needs two CPUs; this process may use {cpus}")
        os.sched_setaffinity(0, set(cpus[:-1]))  # the broker, the feeder and the clocks start from here: inherited
        os.environ[cluster.WORKER_CPUS_ENV] = str(cpus[-1])
        params["pinned"] = {"workers": [cpus[-1]], "others": cpus[:-1]}
    if args.cpu_latency_us is not None:
        os.environ["VIGIL_CPU_LATENCY_US"] = str(args.cpu_latency_us)  # workers inherit it
    b_compare = list(args.compare)
    for other in (r for r in RUNTIMES if r != args.runtime):  # (b) of the other runtimes, side by side
        if not any(spec.startswith(f"{other}=") for spec in args.compare):
            b_compare.append(f"{other}=runtime:{other}")
    hot_path = compiled.status()
    result["versions"]["hot_path"] = hot_path.describe()  # the workers inherit the same decision
    if hot_path.compiled and not any(spec.startswith("pure-python=") for spec in args.compare):
        b_compare.append(f"pure-python=runtime:{args.runtime};{compiled.PURE_ENV}=1")  # what compiling gains
    if args.rehearsals is not None:
        params["rehearsals"] = args.rehearsals
    if args.broker_warmup_max_s is not None:
        params["broker_warmup_max_s"] = float(args.broker_warmup_max_s)
    params["feeder_linger_ms"] = args.feeder_linger_ms
    params["clock_fetch_wait_ms"] = args.clock_fetch_wait_ms
    params["clocks"] = list(latency.BOTH_CLOCKS if args.uncommitted_clock else latency.CLOCKS)
    params["broker_properties"] = dict(args.broker_property)
    params["broker_heap"] = args.broker_heap
    broker_root = args.broker_dir or cluster.default_broker_root()
    if not broker_root.is_dir():
        ap.error(f"--broker-dir {broker_root}: not a folder")
    params["broker_dir"] = {"path": str(broker_root), "filesystem": kafka_local.filesystem_at(broker_root)}
    params["model_store"] = "empty (AR2)" if args.model_store is None else args.model_store
    params["worker_env"] = {k: v for k, v in sorted(os.environ.items())  # e.g. VIGIL_STATE_WRITE_SECONDS=0
                            if k.startswith(("VIGIL_STATE_WRITE", "VIGIL_TXN", "VIGIL_FETCH", "VIGIL_COMMIT",
                                             "VIGIL_CPU"))}
    result["worker_logs"] = str(log_dir)
    group = workload.patients(params["patients"])
    feed = workload.readings(group, params["readings"])
    print(f"bench: {len(feed)} readings from {params['patients']} patients; worker logs in {log_dir}", flush=True)
    print(f"bench: interpreter {report.describe_interpreter(result['machine']['interpreter'])}", flush=True)
    print(f"bench: scoring hot path {hot_path.describe()}", flush=True)
    print(f"bench: broker data under {broker_root} ({params['broker_dir']['filesystem']})", flush=True)
    if not hot_path.compiled and not compiled.pure_requested():  # not chosen: e.g. a stale build
        print("bench: warning: the workers score in plain Python, about half the compiled speed; run "
              "`make compiled` first to measure what a deployment runs", file=sys.stderr, flush=True)
    started = time.monotonic()
    with cluster.broker(heap=params["broker_heap"], properties=params["broker_properties"], root=broker_root) as kafka:
        boot = kafka.bootstrap
        broker_pid = kafka.pid()
        assert broker_pid is not None, "the broker it just started is not running"
        raw_rate = worker_rate = None
        if params["warm_readings"] and parts & {"raw", "worker"}:
            # (a) ran first against a broker that had just started (its JIT compiler: see (d)'s warm-up), and its
            # rate moved between 108k and 147k/s from run to run (eighth session): both read a warmed broker now
            warm = feed[:params["warm_readings"]]
            raw_run(boot, warm)
            worker_run(boot, warm, 1, log_dir, args.timeout)
            rows.append(("broker warm-up for (a) and (b), readings (not measured)", _fmt(len(warm)),
                         "read raw, then drained by a worker"))
            print(rows[-1], flush=True)
        if "raw" in parts:
            a = raw_run(boot, feed)
            raw_rate = a.per_s
            result["a_raw_consume"] = asdict(a) | {"per_s": a.per_s}
            rows.append(("(a) raw aiokafka consume + parse, readings/s", _fmt(a.per_s),
                         f"ceiling; cpu {1000 * a.cpu_s / a.count:.3f} ms/reading"))
            print(rows[-1], flush=True)
        if args.worker_rate:
            worker_rate = args.worker_rate
        elif parts & {"worker", "scale", "latency"}:
            b = worker_run(boot, feed, 1, log_dir, args.timeout)
            worker_rate = b["rate"]
            result["b_worker"] = b
            ratio = f"b/a = {worker_rate / raw_rate:.3f}" if raw_rate else ""
            if raw_rate and result["a_raw_consume"]["cpu_s"]:
                cpu_a = result["a_raw_consume"]["cpu_s"] / result["a_raw_consume"]["count"]
                b["cpu_ratio_b_over_a"] = cpu_a / (b["worker_cpu_s"] / b["readings"])
                ratio += f" (per cpu-second: {b['cpu_ratio_b_over_a']:.3f})"
            if not b["measured_records"]:
                ratio = UNTIMED
            rows.append((f"(b) vigil worker x1 ({args.runtime}), readings/s", _rate(b),
                         f"{ratio}  alerts={b['alerts']}  worker cpu {b['worker_cpu_ms_per_reading']:.2f} ms/reading"
                         f"{'  TIMED OUT' if b['timed_out'] else ''}"))
            print(rows[-1], flush=True)
        for spec in b_compare if "worker" in parts else args.compare:
            name, _, overrides = spec.partition("=")
            v = worker_run(boot, feed, 1, log_dir, args.timeout, overrides)
            result.setdefault("b_variants", {})[name] = v | {"overrides": overrides}
            rows.append((f"    variant {name}, readings/s", _rate(v),
                         f"cpu {v['worker_cpu_ms_per_reading']:.2f} ms/reading, alerts={v['alerts']}"
                         f"{'' if v['measured_records'] else '; ' + UNTIMED}"))
            print(rows[-1], flush=True)
        if "scale" in parts:
            result["scale_out"] = []
            for k in params["scale"]:
                if k == 1:
                    continue
                s = worker_run(boot, feed, k, log_dir, args.timeout)
                result["scale_out"].append(s)
                rows.append((f"    scale-out: {k} workers, readings/s", _rate(s),
                             UNTIMED if not s["measured_records"]
                             else f"x{s['rate'] / worker_rate:.2f} of 1 worker" if worker_rate else ""))
                print(rows[-1], flush=True)
        if "sweep" in parts:
            result["patients_sweep"] = []
            for n in params["sweep"]:
                sweep_feed = workload.readings(workload.patients(n, seed=5), params["readings"])
                s = worker_run(boot, sweep_feed, 1, log_dir, args.timeout)
                result["patients_sweep"].append(s)
                grew = (s["rss_kib_after"] - s["rss_kib_before"]) / 1024
                rows.append((f"    1 worker, {n:,} patients, readings/s", _rate(s),
                             f"{s['readings'] / n:.1f} readings/patient, RSS +{grew:.0f} MiB"))
                print(rows[-1], flush=True)
        if "publish" in parts:
            ns = cluster.new_namespace(boot)
            topic = namespaced(READINGS, ns)
            pub_feed = feed[:params["publish"]]
            raw = clients.raw_publish(boot, topic, clients.payloads_of(pub_feed))
            gw = clients.gateway_publish(boot, topic, pub_feed)
            enqueue, drain = clients.outbox_publish(boot, topic, pub_feed)
            result["c_publish"] = {"raw": raw.per_s, "gateway": gw.per_s, "outbox_enqueue": enqueue.per_s,
                                   "outbox_drain": drain.per_s, "count": len(pub_feed)}
            rows.append(("(c) raw kafka-python producer, same bytes, msg/s", _fmt(raw.per_s), "baseline"))
            rows.append(("(c) gateway ReadingPublisher, readings/s", _fmt(gw.per_s),
                         f"c/raw = {gw.per_s / raw.per_s:.3f}"))
            rows.append(("    outbox drain -> publisher, readings/s", _fmt(drain.per_s),
                         f"/raw = {drain.per_s / raw.per_s:.3f}"))
            rows.append(("    outbox enqueue (SQLite, fsync per 500), readings/s", _fmt(enqueue.per_s), ""))
            print(*rows[-4:], sep="\n", flush=True)
        if "latency" in parts and not worker_rate:  # said, not skipped in silence
            rows.append(("(d) latency", "n/a", "no (b) rate to take shares of: raise --readings or pass --worker-rate"))
            print(rows[-1], flush=True)
        if "latency" in parts and worker_rate:
            result["d_latency"] = []
            dippers = workload.patients(max(50, params["patients"] // 4), seed=9, dip_share=1.0)
            warm_patients = workload.patients(max(50, params["patients"] // 4), seed=10, dip_share=1.0)
            feed_rate = worker_rate
            if not args.worker_rate:  # the latency feed (every patient dipping) costs more per reading than (b)'s:
                # its own saturated rate is what "50 % load" is a share of
                # its median of several drains: one drain's rate moved from 23k to 42k/s between two runs of the
                # same build on this host (nineteenth session), and every paced rate below is a share of it
                sat_feed = workload.readings(dippers, params["readings"], first_step=60)
                drains = [worker_run(boot, sat_feed, 1, log_dir, args.timeout)
                          for _ in range(params["saturation_runs"])]
                sat = sorted(drains, key=lambda d: d["rate"])[len(drains) // 2]
                feed_rate = sat["rate"]
                result["d_saturated"] = {**sat, "drains": [d["rate"] for d in drains]}
                rows.append(("(d) saturated rate of the latency feed (all dipping), readings/s", _fmt(feed_rate),
                             f"median of {len(drains)} drains ({', '.join(_fmt(d['rate']) for d in drains)}); worker "
                             f"cpu {sat['worker_cpu_ms_per_reading']:.3f} ms/reading, alerts={sat['alerts']}"))
                print(rows[-1], flush=True)
            if params["broker_warmup_max_s"]:
                rate = params["load_shares"][0] * feed_rate
                warmup = broker_warmup(boot, broker_pid, warm_patients, rate, params, log_dir, args)
                result["d_broker_warmup"] = warmup
                rows.append(("(d) broker warm-up, paced readings (not measured)", _fmt(warmup["readings"]),
                             f"at {rate:,.0f}/s for {warmup['seconds']:.0f} s, before the measured runs; the "
                             f"broker's JIT compiler {warmup['jit_cores'][0]:.2f} -> {warmup['jit_cores'][-1]:.2f} "
                             f"cores a round ({'quiet' if warmup['quiet'] else 'not quiet yet: the runs may pay'})"))
                print(rows[-1], flush=True)
            for share in params["load_shares"]:
                rate = share * feed_rate
                too_big = latency.feeder_memory_error(rate, params["latency_s"], params["warmup_s"],
                                                      latency.mem_available())
                if too_big is not None:
                    raise SystemExit(f"bench: {too_big}")
                lat_feed = workload.readings(dippers, max(200, int(rate * params["latency_s"])), first_step=60)
                # other patients first, in the same paced stream: a worker's first seconds are reported apart
                # and it crosses a UTC midnight (step 288), so the worker's first daily summaries are written in it:
                # a worker's first transaction that wrote the summaries partitions was followed by offset commits
                # of 270-440 ms (eighth session), a once-per-worker cost that fell in the measured seconds
                warm_feed = workload.readings(warm_patients, int(rate * params["warmup_s"]), first_step=256)
                for interval, variant, label in latency_runs(share, params, args.compare):
                    env: dict[str, str] = {} if interval is None else {"BROKER_COMMIT_INTERVAL": str(interval)}
                    ns = cluster.new_namespace(boot)
                    with cluster.workers(boot, ns, 1, log_dir, variant, **env) as (worker,):
                        cpu_before = worker.cpu_s()
                        assert worker.proc is not None
                        load: dict[str, float] = {}  # the broker, the feed and the clocks share the machine
                        broker_gc: list[float | None] = []  # filled right before the feed's first reading

                        def collect_broker_garbage(into: list[float | None] = broker_gc) -> None:
                            into.append(cluster.collect_broker_garbage(broker_pid))

                        lats = latency.measure(boot, namespaced(READINGS, ns), namespaced(ALERTS, ns), lat_feed,
                                               rate, warmup=warm_feed, load=load,
                                               pids={"worker": worker.proc.pid, "broker": broker_pid,
                                                     "clocks": os.getpid()},  # this process: the alert clocks
                                               linger_ms=args.feeder_linger_ms,
                                               clock_wait_ms=args.clock_fetch_wait_ms,
                                               isolations=tuple(params["clocks"]),
                                               before_feed=None if args.no_broker_gc else collect_broker_garbage)
                        broker_gc_s = broker_gc[0] if broker_gc else None
                        # paced readings each pay their own state write: compare with the drained CPU per reading
                        cpu_ms = 1000 * (worker.cpu_s() - cpu_before) / (len(lat_feed) + len(warm_feed))
                    result["d_latency"].append({"rate": rate, "share_of_b": share, "readings": len(lat_feed),
                                                "commit_interval_s": interval, "variant": label,
                                                "warmup_readings": len(warm_feed), "worker_cpu_ms_per_reading": cpu_ms,
                                                "machine": load, "rehearsal": label.startswith("rehearsal"),
                                                "broker_gc_before_s": broker_gc_s,
                                                "results": [asdict(x) for x in lats]})
                    rows.append((f"(d) {share:.0%} load ({rate:,.0f}/s), {label}, worker cpu ms/reading",
                                 f"{cpu_ms:.3f}", f"paced; while sent: machine {load['machine_busy']:.0%} busy of "
                                 f"{os.cpu_count()} cores ({load['machine_stolen']:.1%} stolen), "
                                 f"worker {load['worker_cores']:.2f}, "
                                 f"broker {load['broker_cores']:.2f}, feeder {load['feeder_cores']:.2f}, "
                                 f"clocks {load['clocks_cores']:.2f} cores; feeder "
                                 f"{load['feeder_requests_per_s']:,.0f} requests/s, "
                                 f"linger {args.feeder_linger_ms:g} ms (records queued p99 "
                                 f"{load['feeder_queued_p99_ms']:.0f} ms), produce round trip p99 "
                                 f"{load['feeder_rtt_p99_ms']:.0f} max {load['feeder_rtt_max_ms']:.0f} ms; "
                                 + ("broker's heap not collected before" if broker_gc_s is None else
                                    f"broker's heap collected before in {broker_gc_s:.1f} s")))
                    for x in lats:
                        rows.append((f"(d) {share:.0%} load ({rate:,.0f}/s), {label}, {x.isolation}, ms",
                                     f"{x.p50_ms:.0f}/{x.p95_ms:.0f}/{x.p99_ms:.0f}",
                                     f"p50/p95/p99, max {x.max_ms:.0f}, n={x.samples}; p99 per "
                                     f"{latency.WINDOW_S:g} s sent: "
                                     + " ".join(f"{w:.0f}" for w in x.p99_by_window_ms)
                                     + f"; to the broker {x.to_broker_p50_ms:.0f}/{x.to_broker_p99_ms:.0f}, "
                                     f"to the worker's send {x.to_send_p50_ms:.0f}/{x.to_send_p99_ms:.0f}, "
                                     f"after it {x.after_send_p50_ms:.0f}/{x.after_send_p99_ms:.0f} (p50/p99); "
                                     f"slowest 1 %: {x.tail_to_send_ms:.0f} ({x.tail_to_broker_ms:.0f} of it to "
                                     f"the broker) + {x.tail_after_send_ms:.0f}"))
                    print(*rows[-len(lats) - 1:], sep="\n", flush=True)
        if "memory" in parts:
            sizes = state_cost.sample_states(params["sample_patients"], params["sample_steps"])
            result["state_sizes"] = {k: v for k, v in asdict(sizes).items() if k != "states"}
            rows.append((f"(4) state value bytes/patient after {sizes.hours:g} h", f"{sizes.mean_bytes:,.0f}",
                         f"p95 {sizes.p95_bytes}, max {sizes.max_bytes} (goal <= 2048)"))
            result["table_memory"] = []
            for n in params["memory"]:
                fp = state_cost.table_rss(n, sizes.states)
                result["table_memory"].append(asdict(fp) | {"bytes_per_patient": fp.bytes_per_patient})
                rows.append((f"(4) table held as faust's memory store, {n:,} patients, MiB",
                             f"{fp.rss_loaded_kib / 1024:,.0f}",
                             f"worker imports only {fp.rss_empty_kib / 1024:.0f} MiB -> "
                             f"{fp.bytes_per_patient:,.0f} B/patient"))
                print(rows[-1], flush=True)
    result["wall_s"] = time.monotonic() - started
    path = report.write(result, args.tag or ("quick" if args.quick else "full"))
    print()
    print(report.table(rows))
    print(f"\nJSON: {path}  ({result['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
