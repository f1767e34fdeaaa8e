"""Emulated CGM + meter -> gateway -> real broker: each reading exactly once, across outages and SIGKILL."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from device_gateway import bumble_backend
from device_gateway.ble import BleOptions
from device_gateway.emulator.devices import default_wearables
from device_gateway.emulator.scenario import Scenario
from device_gateway.emulator.world import EmulatedWorld
from device_gateway.enrolment import Consent, DeviceInfo, EnrolmentStore
from device_gateway.outbox import Outbox
from device_gateway.publisher import ReadingPublisher
from device_gateway.runtime import Gateway, run_gateway
from monitor.kafka_local import LocalKafka
from tests.integration.kafka_helpers import create_namespace, read_topic, wait_until

pytestmark = pytest.mark.integration
CGM, METER = "F1:00:00:00:00:01", "F1:00:00:00:00:02"
SECRET = b"vigil-test-secret-0123456789"
ROOT = Path(__file__).resolve().parents[2]


def _ids(records: list[tuple[bytes | None, bytes]]) -> Counter[str]:
    return Counter(orjson.loads(v)["reading_id"] for _k, v in records)


def _enrol(store: EnrolmentStore) -> None:
    for address in (CGM, METER):
        store.enrol(address, enrolment_id="E-42", secret=SECRET, consent=Consent(True, "Nurse A"),
                    info=DeviceInfo(serial=address.replace(":", ""), manufacturer="emu"))


async def test_exactly_once_across_link_drop_and_broker_outage(
    kafka_bootstrap: str, kafka_broker: LocalKafka, namespace: str, tmp_path: Path
) -> None:
    topics = create_namespace(kafka_bootstrap, namespace)
    readings_topic, dl_topic = topics["vigil.readings.v1"], topics["vigil.deadletter.v1"]
    world = await EmulatedWorld(default_wearables(Scenario.of(range(80, 200, 4)))[:2]).start()
    store = EnrolmentStore(tmp_path / "enrol.db")
    _enrol(store)
    outbox = Outbox(tmp_path / "outbox.db")
    gateway = Gateway(store, outbox, readings_topic=readings_topic, deadletter_topic=dl_topic)
    options = BleOptions(scanner_kwargs={"backend": bumble_backend.BumbleScanner, "world": world},
                         client_kwargs={"backend": bumble_backend.BumbleClient, "world": world})
    stop = asyncio.Event()
    task = asyncio.create_task(run_gateway(
        gateway, options, lambda: ReadingPublisher(kafka_bootstrap, readings_topic, dl_topic), stop))
    cgm, meter = world.wearable(CGM), world.wearable(METER)

    async def until(pred, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < deadline, "condition not reached"
            await asyncio.sleep(0.05)

    # Both sessions fully up: the CGM linked, the meter paired and its first RACP backfill requested.
    await until(lambda: cgm.connection is not None and meter.connection is not None
                and len(meter.racp_requests) >= 1)  # type: ignore[attr-defined]
    for _ in range(4):
        await world.take_readings()
    # (b) the meter goes out of range, measures 3 times, comes back: RACP backfills seq 4..6.
    await world.drop_link(METER)
    for _ in range(3):
        await meter.take_reading()
    await world.restore_link(METER)
    await until(lambda: len(meter.racp_requests) >= 2)  # type: ignore[attr-defined]
    # (a) the broker stops for 30 s while readings keep arriving, then comes back.
    kafka_broker.down()
    try:
        for _ in range(3):
            await world.take_readings()
        await asyncio.sleep(30)  # the outage itself is the test condition, not a wait for a result
        assert outbox.stats().pending > 0
    finally:
        kafka_broker.up()
    await until(lambda: outbox.stats().pending == 0, timeout=180)
    stop.set()
    await asyncio.wait_for(task, 60)
    await world.close()

    # CGM: 4 + 3 readings; meter: 4 + 3 + 3 = 10 records, with carbs context on seq 0, 4 and 8.
    expected = 7 + 10 + 3
    records = await asyncio.to_thread(read_topic, kafka_bootstrap, readings_topic, min_count=expected)
    ids = _ids(records)
    assert len(ids) == expected, ids
    assert max(ids.values()) == 1, "a reading arrived twice"
    sequences = sorted(orjson.loads(v)["sequence"] for _k, v in records
                       if orjson.loads(v)["kind"] == "glucose")
    assert sequences == list(range(10))


def _gateway(
    data: Path, bootstrap: str, topics: dict[str, str], readings: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VIGIL_PSEUDONYM_SECRET": SECRET.decode(), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "device_gateway", "--data-dir", str(data), "-v", "run", "--emulated",
         "--bootstrap", bootstrap, "--readings-topic", topics["vigil.readings.v1"],
         "--deadletter-topic", topics["vigil.deadletter.v1"], "--interval", "0.2",
         "--readings", str(readings)],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


def test_exactly_once_after_sigkill(kafka_bootstrap: str, namespace: str, tmp_path: Path) -> None:
    topics = create_namespace(kafka_bootstrap, namespace)
    data = tmp_path / "gw"
    env = {**os.environ, "VIGIL_PSEUDONYM_SECRET": SECRET.decode(), "PYTHONPATH": str(ROOT)}
    for address in (CGM, METER):
        subprocess.run([sys.executable, "-m", "device_gateway", "--data-dir", str(data), "pair", address,
                        "--patient", "E-7", "--consent-by", "Nurse B", "--emulated"],
                       cwd=ROOT, env=env, check=True, timeout=60)
    log = tmp_path / "gateway.log"
    n = 30
    first = _gateway(data, kafka_bootstrap, topics, n, log)
    outbox_db = data / "outbox.db"
    assert wait_until(lambda: outbox_db.exists() and _sent(outbox_db) >= 10, timeout_s=60), log.read_text()
    # Kill it while a batch is in flight (handed to the producer, not yet marked sent): the worst instant.
    assert wait_until(lambda: _in_doubt(outbox_db) > 0, timeout_s=60, interval_s=0.001), log.read_text()
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = _gateway(data, kafka_bootstrap, topics, n, log)
    try:
        # CGM: n readings; meter: n records, carbs context every 4th.
        expected = n + n + (n + 3) // 4
        assert wait_until(lambda: _sent(outbox_db) >= expected, timeout_s=120), log.read_text()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    records = read_topic(kafka_bootstrap, topics["vigil.readings.v1"], min_count=expected)
    ids = _ids(records)
    assert len(ids) == expected
    # A reading the broker acknowledged in the instant before SIGKILL, not yet marked sent, is found by the
    # restarted gateway's read-back (Outbox.reconcile) instead of being sent again: strictly exactly once.
    assert [i for i, c in ids.items() if c > 1] == []
    assert "outbox reconcile:" in log.read_text()  # the restart settled the in-flight rows before resending


def _in_doubt(db: Path) -> int:
    with sqlite3.connect(db) as c:
        try:
            return int(c.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND attempted_at IS NOT NULL")
                       .fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def _sent(db: Path) -> int:
    with sqlite3.connect(db) as c:
        try:
            return int(c.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


class _AckLost:
    """A real publisher whose acknowledgements never reach the outbox: the broker has the readings."""

    def __init__(self, real: ReadingPublisher) -> None:
        self.real = real

    def send(self, reading: object) -> object:
        self.real.send(reading).get(timeout=30)  # type: ignore[arg-type]
        return _Lost()

    def send_dead_letter(self, letter: object) -> object:
        raise AssertionError("no dead letters here")

    def flush(self, timeout: float | None = None) -> None:
        self.real.flush(timeout)


class _Lost:
    def get(self, timeout: float | None = None) -> object:
        raise TimeoutError("ack lost")


def test_reconcile_reads_back_what_the_broker_already_has(kafka_bootstrap: str, namespace: str,
                                                          tmp_path: Path) -> None:
    from tests.device_gateway.test_outbox import reading

    topics = create_namespace(kafka_bootstrap, namespace)
    readings_topic = topics["vigil.readings.v1"]
    box = Outbox(tmp_path / "o.db")
    box.enqueue_many([(readings_topic, reading(i)) for i in range(6)])
    with ReadingPublisher(kafka_bootstrap, readings_topic) as real:
        assert box.publish_pending(_AckLost(real)).sent == 0  # on the broker, not marked: in doubt
    box.enqueue_many([(readings_topic, reading(i)) for i in range(6, 9)])
    box.close()
    again = Outbox(tmp_path / "o.db")  # the restarted gateway
    with ReadingPublisher(kafka_bootstrap, readings_topic) as publisher:
        result = again.drain(publisher)
    assert (result.sent, result.error, again.in_doubt_count(), again.stats().pending) == (3, None, 0, 0)
    ids = _ids(read_topic(kafka_bootstrap, readings_topic, min_count=9))
    assert len(ids) == 9 and max(ids.values()) == 1
