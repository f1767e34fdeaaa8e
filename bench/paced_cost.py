"""A worker's CPU per reading when readings come as a backlog and when they come paced, in the same run.

Why: (d)'s "half load" is half of a drained backlog's rate, and a paced reading costs the worker about twice as
much CPU (each pays its own state write, and scoring resumes cold after every wait). This measures that ratio on
one worker, phase after phase, so it can be compared across changes without the noise of separate runs.
Each phase also prints the worker's CPU a reading per thread (the loop's "main", librdkafka's rdk:* threads, the
commit thread under the process's own name), to tell which thread a paced reading's extra CPU is spent in.
Usage: python -m bench.paced_cost [--patients 500] [--backlog 50000] [--rates 2750 5500] [--seconds 10]
       [--runtime rdkafka] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from confluent_kafka import Producer

from bench import cluster, workload
from monitor.records import to_json
from monitor.topics import READINGS, namespaced

TICK_S = 0.005  # the paced feed hands over what is due every 5 ms
TIMEOUT_S = 300.0  # for the worker to commit what was sent


def caught_up(progress: cluster.Progress, sent: int, worker: cluster.Worker) -> cluster.Drain:
    """Waits until the worker's group committed every reading sent, so its CPU since covers all of them."""
    drain = cluster.wait_drained(progress, sent, TIMEOUT_S, poll_s=0.1)
    if drain.timed_out:
        raise SystemExit(f"paced_cost: the worker committed fewer than {sent:,} readings in {TIMEOUT_S:.0f} s:\n"
                         f"{worker.tail()}")
    return drain


def per_thread(before: dict[str, float], after: dict[str, float], readings: int) -> str:
    """CPU microseconds a reading per thread name between two cluster.thread_cpu_s() snapshots, busiest first."""
    used = {name: (after[name] - before.get(name, 0.0)) / readings * 1e6 for name in after}
    return ", ".join(f"{name} {us:.1f}" for name, us in sorted(used.items(), key=lambda kv: -kv[1]) if us >= 0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=500, help="dipping patients in the feed (as in (d))")
    ap.add_argument("--backlog", type=int, default=50_000, help="readings of each drained phase")
    ap.add_argument("--rates", type=float, nargs="+", default=[2750.0, 5500.0], help="paced phases, readings/s")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each paced phase")
    ap.add_argument("--runtime", default="rdkafka", help="VIGIL_WORKER_RUNTIME of the worker")
    ap.add_argument("--rounds", type=int, default=2, help="how often the drained + paced phases repeat")
    args = ap.parse_args()
    need = args.rounds * (args.backlog + int(sum(args.rates) * args.seconds) + 1)
    feed = [(to_json(r), r.patient_key.encode()) for r in workload.readings(
        workload.patients(args.patients, seed=9, dip_share=1.0), need, first_step=60)]
    log_dir = Path(tempfile.mkdtemp(prefix="vigil-paced-cost-"))
    os.environ.setdefault("VIGIL_MODEL_STORE", str(log_dir / "empty-model-store"))  # AR2, as the bench
    print(f"paced_cost: {len(feed):,} readings of {args.patients} patients; worker logs in {log_dir}", flush=True)
    with cluster.broker() as kafka:
        ns = cluster.new_namespace(kafka.bootstrap)
        topic = namespaced(READINGS, ns)
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 2, "enable.idempotence": True,
                             "partitioner": "murmur2_random"})
        sent = 0

        def send(count: int) -> None:
            nonlocal sent
            for value, key in feed[sent:sent + count]:
                while True:
                    try:
                        producer.produce(topic, value, key)
                        break
                    except BufferError:  # librdkafka's queue is full (a large backlog): let deliveries drain it
                        producer.poll(0.1)
            sent += count
            producer.poll(0)

        with cluster.workers(kafka.bootstrap, ns, 1, log_dir, VIGIL_WORKER_RUNTIME=args.runtime) as (worker,):
            progress = cluster.Progress(kafka.bootstrap, cluster.group_of(ns), topic)
            try:
                for round_no in range(1, args.rounds + 1):
                    cpu, threads = worker.cpu_s(), worker.thread_cpu_s()
                    for start in range(0, args.backlog, 10_000):
                        send(min(10_000, args.backlog - start))
                    producer.flush(60)
                    drain = caught_up(progress, sent, worker)
                    drained = (worker.cpu_s() - cpu) / args.backlog
                    row = [f"round {round_no}: drained {1000 * drained:.3f} ms/reading ({drain.rate:,.0f}/s)"]
                    detail = [f"  drained, us a reading per thread: "
                              f"{per_thread(threads, worker.thread_cpu_s(), args.backlog)}"]
                    for rate in args.rates:
                        cpu, threads, began, count = worker.cpu_s(), worker.thread_cpu_s(), time.perf_counter(), 0
                        while (elapsed := time.perf_counter() - began) < args.seconds:
                            due = int(elapsed * rate) - count
                            send(due)
                            count += due
                            time.sleep(TICK_S)
                        producer.flush(60)
                        caught_up(progress, sent, worker)
                        paced = (worker.cpu_s() - cpu) / count
                        row.append(f"paced {rate:,.0f}/s {1000 * paced:.3f} ms/reading (x{paced / drained:.2f})")
                        detail.append(f"  paced {rate:,.0f}/s, us a reading per thread: "
                                      f"{per_thread(threads, worker.thread_cpu_s(), count)}")
                    print("  ".join(row), *detail, sep="\n", flush=True)
            finally:
                progress.close()


if __name__ == "__main__":
    main()
