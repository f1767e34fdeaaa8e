"""`vigil demo`: broker, topics, worker, emulated wearables through the real gateway, alerts in the terminal."""

from __future__ import annotations

import asyncio
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
from monitor.notify_demo import SmsDemo
from monitor.pseudonym import patient_key
from monitor.records import Alert, RecordError, parse_any
from monitor.tail import describe
from monitor.worker_loop import READY_LINES

ROOT = Path(__file__).resolve().parents[1]
# A morning that drifts low: in range, below 70 (low), below 54 (urgent low), then recovery above 80.
DEMO_SERIES_MGDL = (128, 121, 112, 101, 92, 84, 77, 71, 66, 63, 59, 55, 51, 48, 50, 56, 64, 73, 82, 91, 104, 112, 118,
                    121)


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


DEMO_ENROLMENT_ID = "demo-patient-0001"


def record_consent(settings: Settings, bootstrap: str, namespace: str, home: Path) -> None:
    """The worker scores nobody without monitoring consent: the demo patient's is recorded first."""
    from monitor.consent_store import ConsentStore, grant

    say("recording the demo patient's monitoring consent (the worker scores nobody without it) ...")
    key = patient_key(DEMO_ENROLMENT_ID, settings.pseudonym_secret)
    since = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=15)
    grant(ConsentStore(home / f"{namespace}-consent.sqlite"), bootstrap, namespace, key, since, by="demo")


def stream_emulated_wearables(settings: Settings, bootstrap: str, namespace: str, data_dir: Path,
                              interval_s: float) -> int:
    """Emulated CGM + heart-rate strap -> BLE (bleak over bumble) -> gateway outbox -> publisher -> broker.

    Returns the number of readings the gateway committed and the broker acknowledged.
    """
    from device_gateway.emulated_feed import FeedConfig, stream

    cfg = FeedConfig(
        bootstrap=bootstrap,
        readings_topic=topics.namespaced(topics.READINGS, namespace),
        deadletter_topic=topics.namespaced(topics.DEADLETTER, namespace),
        secret=settings.pseudonym_secret,
        data_dir=data_dir,
        enrolment_id=DEMO_ENROLMENT_ID,
        interval_s=interval_s,
    )
    result = asyncio.run(stream(cfg, DEMO_SERIES_MGDL, lambda line: print(line, flush=True)))
    say(f"gateway: {result.readings} readings sent, {result.dead_letters} dead letters, {result.pending} pending.")
    return result.readings


# The low opens, escalates to urgent, is acknowledged by the nurse's SMS reply, and resolves above 80.
EXPECTED_STATES = ("open", "escalated", "acknowledged", "resolved")


class NurseReply(threading.Thread):
    """The scripted nurse: answers the first urgent SMS with "ACK <code>" while the alert is still open."""

    def __init__(self, sms: SmsDemo) -> None:
        super().__init__(daemon=True)
        self.sms = sms
        self.confirmation: str | None = None

    def run(self) -> None:
        self.confirmation = self.sms.scripted_ack(timeout_s=120)
        say(f"SMS confirmation to the nurse: {self.confirmation}" if self.confirmation
            else "no urgent SMS to acknowledge arrived")


def wait_for_alerts(printer: AlertPrinter, expected: tuple[str, ...], timeout_s: float = 30.0) -> set[str]:
    """Waits (bounded) until alert records in every expected state arrived; returns the states seen."""
    deadline = time.monotonic() + timeout_s
    while not set(expected) <= printer.states and time.monotonic() < deadline:
        time.sleep(0.2)
    return set(printer.states)


class AlertPrinter(threading.Thread):
    """Prints every record of the alerts topic as it arrives (read_committed: only what the worker committed)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.count = 0
        self.states: set[str] = set()
        self._stop_event = threading.Event()
        self._consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                       enable_auto_commit=False, isolation_level="read_committed")

    def run(self) -> None:
        while not self._stop_event.is_set():
            for messages in self._consumer.poll(timeout_ms=200).values():
                for message in messages:
                    self.count += 1
                    self._note_state(message.value)
                    print(f"  >> {describe(message.value)}", flush=True)
        self._consumer.close()

    def _note_state(self, raw: bytes) -> None:
        try:
            record = parse_any(raw)
        except RecordError:
            return
        if isinstance(record, Alert):
            self.states.add(record.state.value)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def start_worker(settings: Settings, namespace: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIGIL_BOOTSTRAP": settings.bootstrap, "VIGIL_NAMESPACE": namespace, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "monitor", "worker", "--loglevel", "info"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_log(log_path: Path, marker: str | tuple[str, ...], alive: Callable[[], bool],
                 timeout_s: float = 120.0) -> None:
    markers = (marker,) if isinstance(marker, str) else marker
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"process exited; see {log_path}")
        text = log_path.read_text(errors="replace")
        if any(m in text for m in markers):
            return
        time.sleep(0.2)
    raise TimeoutError(f"'{marker}' not seen in {log_path} after {timeout_s:.0f}s")


def run_demo(settings: Settings, interval_s: float = 0.4, keep_broker: bool = False) -> int:
    """Runs the whole demo; returns 0 when the expected alerts arrived."""

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
        say(f"starting the scoring worker (log: {log_path}) ...")
        worker = start_worker(settings, namespace, log_path)
        proc = worker
        wait_for_log(log_path, READY_LINES, alive=lambda: proc.poll() is None)
        printer = AlertPrinter(bootstrap, topics.namespaced(topics.ALERTS, namespace))
        printer.start()
        record_consent(settings, bootstrap, namespace, home)
        with SmsDemo(settings, bootstrap, namespace, home, DEMO_ENROLMENT_ID) as sms:
            nurse = NurseReply(sms)
            nurse.start()
            say("emulated wearables: a CGM drifting low (below 70, below 54, back above 80) and a heart-rate strap")
            stream_emulated_wearables(settings, bootstrap, namespace, home / f"{namespace}-gateway", interval_s)
            seen = wait_for_alerts(printer, EXPECTED_STATES)
            nurse.join(timeout=60)
        missing = [state for state in EXPECTED_STATES if state not in seen]
        say(f"{printer.count} alert record(s) received; missing states: {', '.join(missing) or 'none'}.")
        return 0 if not missing and nurse.confirmation else 1
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
