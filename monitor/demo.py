"""`vigil demo`: broker, topics, worker, a glucose series that crosses 70 and 54, alerts in the terminal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaConsumer

from monitor import kafka_admin, topics
from monitor.config import Settings
from monitor.kafka_local import LocalKafka
from monitor.pseudonym import patient_key
from monitor.records import Reading, ReadingKind, Source, reading_id_for
from monitor.tail import describe

ROOT = Path(__file__).resolve().parents[1]
# A morning that drifts low: in range, below 70 (low), below 54 (urgent low), then recovery above 80.
DEMO_SERIES_MGDL = (128, 121, 112, 101, 92, 84, 77, 71, 66, 63, 59, 55, 51, 48, 50, 56, 64, 73, 82, 91, 104)


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def demo_readings(settings: Settings, start: datetime) -> list[Reading]:
    """The emitter's series as contract Readings from one emulated CGM, five minutes apart on event time."""
    key = patient_key("demo-patient-0001", settings.pseudonym_secret)
    readings = []
    for i, value in enumerate(DEMO_SERIES_MGDL):
        at = start + timedelta(minutes=5 * i)
        readings.append(Reading(
            reading_id=reading_id_for("demo-cgm-1", "cgm", i, at), patient_key=key, device_id="demo-cgm-1",
            kind=ReadingKind.CGM, value=float(value), unit="mg/dL", measured_at=at, received_at=at,
            source=Source.API, sequence=i,
        ))
    return readings


class AlertPrinter(threading.Thread):
    """Prints every record of the alerts topic as it arrives (read_committed: only what the worker committed)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.count = 0
        self._stop_event = threading.Event()
        self._consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                       enable_auto_commit=False, isolation_level="read_committed")

    def run(self) -> None:
        while not self._stop_event.is_set():
            for messages in self._consumer.poll(timeout_ms=200).values():
                for message in messages:
                    self.count += 1
                    print(f"  >> {describe(message.value)}", flush=True)
        self._consumer.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def start_worker(settings: Settings, namespace: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIGIL_BOOTSTRAP": settings.bootstrap, "VIGIL_NAMESPACE": namespace, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "monitor", "worker", "--loglevel", "info"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_log(log_path: Path, marker: str, alive: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"process exited; see {log_path}")
        if marker in log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"'{marker}' not seen in {log_path} after {timeout_s:.0f}s")


def run_demo(settings: Settings, interval_s: float = 0.4, keep_broker: bool = False) -> int:
    """Runs the whole demo; returns 0 when the expected alerts arrived."""
    from device_gateway.publisher import ReadingPublisher

    home = settings.home.resolve()
    broker = LocalKafka(home / f"kafka-{settings.kafka_port}", port=settings.kafka_port)
    started_broker = broker.pid() is None
    namespace = f"demo{datetime.now(UTC):%Y%m%d%H%M%S}"
    worker: subprocess.Popen[bytes] | None = None
    printer: AlertPrinter | None = None
    interrupted = False

    def on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        say(f"starting Apache Kafka on {broker.bootstrap} (state in {broker.state_dir}) ...")
        bootstrap = broker.up()
        settings = Settings(**{**{f: getattr(settings, f) for f in settings.__dataclass_fields__},
                               "bootstrap": bootstrap})
        say(f"creating the contract topics in namespace '{namespace}' ...")
        kafka_admin.create_topics(bootstrap, topics.contract(namespace))
        log_path = home / f"{namespace}-worker.log"
        say(f"starting the faust scoring worker (log: {log_path}) ...")
        worker = start_worker(settings, namespace, log_path)
        proc = worker
        wait_for_log(log_path, "[^Worker]: Ready", alive=lambda: proc.poll() is None)
        printer = AlertPrinter(bootstrap, topics.namespaced(topics.ALERTS, namespace))
        printer.start()
        readings = demo_readings(settings, datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2))
        from monitor.consent_store import ConsentStore, grant

        say("recording the demo patient's monitoring consent (the worker scores nobody without it) ...")
        grant(ConsentStore(home / f"{namespace}-consent.sqlite"), bootstrap, namespace, readings[0].patient_key,
              readings[0].measured_at - timedelta(minutes=5), by="demo")
        say(f"emulated CGM sends {len(readings)} readings, 5 minutes apart in event time:")
        with ReadingPublisher(bootstrap, topics.namespaced(topics.READINGS, namespace)) as publisher:
            for reading in readings:
                publisher.send(reading).get(timeout=30)
                print(f"  CGM {reading.measured_at:%H:%M}Z {reading.value:5.0f} mg/dL", flush=True)
                time.sleep(interval_s)
        expected = 3  # low opens, escalates to urgent low, resolves above 80
        deadline = time.monotonic() + 60
        while printer.count < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        say(f"{printer.count} alert record(s) received; expected {expected}.")
        return 0 if printer.count >= expected else 1
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted; shutting down ...")
        return 130
    finally:
        if printer is not None:
            printer.stop()
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
        if started_broker and not keep_broker:
            broker.down()
            say("broker stopped.")
        if not interrupted:
            say("done.")
