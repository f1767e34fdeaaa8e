"""The `vigil` command: local broker, topics, worker and operator tools."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from monitor.config import ConfigError, Settings


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.kafka_local import LocalKafka, LocalKafkaError

    broker = LocalKafka(Path(args.dir or settings.home / f"kafka-{args.port}"), port=args.port)
    try:
        if args.action == "fetch":
            print(broker.fetch())
        elif args.action == "up":
            print(f"vigil: broker ready at {broker.up()} (state in {broker.state_dir})")
        elif args.action == "down":
            print("vigil: broker stopped" if broker.down() else "vigil: no broker was running")
        elif args.action == "status":
            print(broker.status())
        elif args.action == "logs":
            print(broker.tail(args.lines))
        elif args.action == "reset":
            broker.destroy()
            print(f"vigil: broker stopped and {broker.state_dir} removed")
    except LocalKafkaError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    return 0


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from monitor import kafka_admin, topics

    specs = topics.contract(args.namespace or settings.namespace)
    if args.action == "create":
        created = kafka_admin.create_topics(args.bootstrap or settings.bootstrap, specs)
        for spec in specs:
            mark = "created" if spec.name in created else "exists"
            print(f"{mark:8} {spec.name:40} partitions={spec.partitions} {spec.config}")
    else:
        for spec in specs:
            print(f"{spec.name:40} key={spec.key:12} value={spec.value:20} partitions={spec.partitions} {spec.config}")
    return 0


RUNTIMES = ("rdkafka", "batch", "faust")  # the first is the default


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if args.runtime not in RUNTIMES:  # argparse does not check a default taken from the environment
        print(f"vigil worker: unknown runtime {args.runtime!r} (VIGIL_WORKER_RUNTIME); use one of "
              f"{', '.join(RUNTIMES)}", file=sys.stderr)
        return 2
    if settings.timing.cpu_latency_us is None:
        return _run_runtime(args, settings)
    from monitor.cpu_latency import CpuLatencyError, CpuLatencyRequest

    try:
        request = CpuLatencyRequest(settings.timing.cpu_latency_us)
    except CpuLatencyError as exc:
        print(f"vigil worker: {exc}", file=sys.stderr)
        return 2
    with request:  # held while the runtime runs (faust's ends the process inside: the kernel drops it then)
        return _run_runtime(args, settings)


def _run_runtime(args: argparse.Namespace, settings: Settings) -> int:
    if args.runtime == "batch":
        from monitor.batch_main import run_batch_worker

        return run_batch_worker(settings, args.loglevel)
    if args.runtime == "rdkafka":
        from monitor.batch_main import run_rdkafka_worker

        return run_rdkafka_worker(settings, args.loglevel)
    from monitor.agents import app

    sys.argv = ["vigil", "worker", "--loglevel", args.loglevel, "--without-web"]
    run_to_exit(app.main)


def run_to_exit(main: Callable[[], object]) -> NoReturn:
    """Runs faust's worker and ends the process with it, whatever threads faust leaves behind: mode's threads are
    not daemons, and one stuck after a crash (a fenced producer) kept the process alive, so no supervisor could
    restart it (tests/integration/test_scale_out.py)."""
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # any end of the worker ends the process, said in the log first
        logging.getLogger("monitor").exception("vigil worker: the faust worker stopped with an error")
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _tail(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.tail import tail_topic

    return tail_topic(args.bootstrap or settings.bootstrap, args.topic, from_beginning=args.from_beginning,
                      max_messages=args.max, timeout_s=args.timeout)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.demo import run_demo

    return run_demo(settings, interval_s=args.interval, keep_broker=args.keep_broker)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="vigil: remote-monitoring stream processor.")
    sub = parser.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="run a real single-node Apache Kafka (KRaft) on 127.0.0.1")
    kafka.add_argument("action", choices=["fetch", "up", "down", "status", "logs", "reset"])
    kafka.add_argument("--port", type=int, default=None, help="broker port (default VIGIL_KAFKA_PORT or 9092)")
    kafka.add_argument("--dir", default=None, help="state folder (default $VIGIL_HOME/kafka-<port>)")
    kafka.add_argument("--lines", type=int, default=50, help="log lines for 'logs'")
    kafka.set_defaults(func=_kafka)

    top = sub.add_parser("topics", help="create or list the contract topics (idempotent)")
    top.add_argument("action", choices=["create", "list"])
    top.add_argument("--bootstrap", default=None, help="host:port (default VIGIL_BOOTSTRAP)")
    top.add_argument("--namespace", default=None, help="prefix for an isolated study namespace")
    top.set_defaults(func=_topics)

    worker = sub.add_parser("worker", help="start the scoring worker (librdkafka or aiokafka loop, or faust agents)")
    worker.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])
    worker.add_argument("--runtime", choices=RUNTIMES,
                        default=os.environ.get("VIGIL_WORKER_RUNTIME", RUNTIMES[0]),
                        help="rdkafka: one transactional producer per process (monitor/rdkafka_worker.py); "
                             "batch: one per partition on aiokafka (monitor/batch_worker.py); faust: faust agents "
                             "(monitor/agents.py). Default VIGIL_WORKER_RUNTIME or rdkafka")
    worker.set_defaults(func=_worker)

    tail = sub.add_parser("tail", help="print records of a topic as they arrive")
    tail.add_argument("topic", help="topic name, e.g. vigil.alerts.v1")
    tail.add_argument("--bootstrap", default=None)
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--max", type=int, default=None, help="stop after this many records")
    tail.add_argument("--timeout", type=float, default=None, help="stop after this many idle seconds")
    tail.set_defaults(func=_tail)

    demo = sub.add_parser("demo", help="run the end-to-end demo: broker, worker, emulated readings, alerts")
    demo.add_argument("--interval", type=float, default=0.4, help="seconds between emulated readings")
    demo.add_argument("--keep-broker", action="store_true", help="leave the broker running afterwards")
    demo.set_defaults(func=_demo)
    from monitor import consent_store, erasure, kafka_secure  # issue 8: consent, erasure, secured local broker

    consent_store.add_parser(sub)
    erasure.add_parser(sub)
    kafka_secure.add_parser(sub)
    from monitor import patient_report  # issue 4: vigil report patient (set-targets lives on erasure's parser)

    patient_report.add_parser(sub)
    from monitor import evaluate, record, replay  # issue 7: research record, import, replay, evaluate
    from monitor.importers import cli as importers_cli

    record.add_parser(sub)
    importers_cli.add_parser(sub)
    replay.add_parser(sub)
    evaluate.add_parser(sub)
    from monitor import audit, identity, notifier_service, roster, sms_sink  # issue 6: care-team notifications

    notifier_service.add_parser(sub)
    sms_sink.add_parser(sub)
    roster.add_parser(sub)
    audit.add_parser(sub)
    identity.add_keys_parser(sub)
    from models.cli import add_data_parser, add_models_parser

    add_data_parser(sub)
    add_models_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"vigil: configuration error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "port", "absent") is None:
        args.port = settings.kafka_port
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
