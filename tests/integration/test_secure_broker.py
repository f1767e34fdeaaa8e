"""The pipeline on a SASL_SSL broker with SCRAM-SHA-512 users: it works, a wrong password or plaintext is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from device_gateway.publisher import ReadingPublisher
from monitor import kafka_admin, topics
from monitor.__main__ import RUNTIMES
from monitor.consent_store import ConsentStore, grant
from monitor.kafka_local import free_port
from monitor.kafka_secure import SecureLocalKafka
from monitor.pseudonym import patient_key
from monitor.records import Alert, Reading, ReadingKind, Source, from_json, reading_id_for
from monitor.worker_loop import READY_BY_RUNTIME
from tests.integration.kafka_helpers import WorkerProcess, new_namespace

SECRET = "vigil-test-secret-0123456789"
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureLocalKafka]:
    broker = SecureLocalKafka(tmp_path_factory.mktemp("kafka-secure"), port=free_port(), controller_port=free_port())
    broker.up()
    try:
        yield broker
    finally:
        broker.destroy()


@pytest.fixture
def secure_env(secure_broker, monkeypatch) -> dict[str, str]:
    """The one config section, as every vigil process reads it."""
    env = {**secure_broker.client_security().to_env(), "VIGIL_BOOTSTRAP": secure_broker.bootstrap,
           "VIGIL_PSEUDONYM_SECRET": SECRET, "VIGIL_CONSENT_REQUIRED": "1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def read_all(bootstrap: str, topic: str, security: dict[str, object], min_count: int, timeout_s: float = 60):
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                             enable_auto_commit=False, isolation_level="read_committed", **security)
    out = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and len(out) < min_count:
            out += [m.value for batch in consumer.poll(timeout_ms=300).values() for m in batch]
    finally:
        consumer.close()
    return out


def test_wrong_password_and_plaintext_are_refused(secure_broker):
    good = secure_broker.client_security()
    assert kafka_admin.broker_ready(secure_broker.bootstrap, security=good.kafka_python())
    assert not kafka_admin.broker_ready(secure_broker.bootstrap,
                                        security=secure_broker.client_security("not-the-password").kafka_python())
    assert not kafka_admin.broker_ready(secure_broker.bootstrap, security={"security_protocol": "PLAINTEXT"})
    assert "Failed authentication" in secure_broker.log_file.read_text(errors="replace")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_pipeline_on_the_secured_broker_and_no_secret_in_any_log(secure_broker, secure_env, tmp_path, runtime):
    security = secure_broker.client_security().kafka_python()
    namespace = new_namespace("s")
    kafka_admin.create_topics(secure_broker.bootstrap, topics.contract(namespace), security=security)
    key = patient_key("ENR-SEC-1", SECRET.encode())
    grant(ConsentStore(tmp_path / "consent.sqlite"), secure_broker.bootstrap, namespace, key,
          T0 - timedelta(hours=1), by="nurse-1")
    worker = WorkerProcess(secure_broker.bootstrap, namespace, tmp_path / "worker.log",
                           env_extra={**secure_env, "VIGIL_WORKER_RUNTIME": runtime}).start()
    try:
        readings = [Reading(reading_id=reading_id_for("cgm-s", "cgm", i, T0 + timedelta(minutes=5 * i)),
                            patient_key=key, device_id="cgm-s", kind=ReadingKind.CGM, value=v, unit="mg/dL",
                            measured_at=T0 + timedelta(minutes=5 * i), received_at=T0 + timedelta(minutes=5 * i),
                            source=Source.BLE, sequence=i)
                    for i, v in enumerate([110, 90, 65, 60, 52, 50])]
        with ReadingPublisher(secure_broker.bootstrap, topics.namespaced(topics.READINGS, namespace)) as pub:
            pub.send_all(readings)   # no explicit security: the publisher reads VIGIL_KAFKA_* like every client
        alerts = [from_json(v, Alert) for v in read_all(secure_broker.bootstrap,
                                                        topics.namespaced(topics.ALERTS, namespace), security, 1)]
        assert alerts and alerts[0].patient_key == key
    finally:
        worker.stop()
    secrets = [secure_broker.client_password, secure_broker.admin_password]
    logs = [Path(worker.log_path), secure_broker.log_file, secure_broker.state_dir / "stdout.log"]
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else ""
        for secret in secrets:
            assert secret not in text, f"a password appears in {log.name}"
    assert READY_BY_RUNTIME[runtime] in Path(worker.log_path).read_text(errors="replace")  # the runtime asked for ran
