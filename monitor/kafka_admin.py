"""The monitor's only kafka-python importer: broker probes and topic administration."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from monitor.security import kafka_python_kwargs
from monitor.topics import TopicSpec

log = logging.getLogger(__name__)


def broker_ready(bootstrap: str, timeout_s: float = 2.0, security: Mapping[str, Any] | None = None) -> bool:
    """True when the broker answers a metadata request."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000),
            client_id="vigil-probe",
            **kafka_python_kwargs(security),
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def wait_ready(bootstrap: str, timeout_s: float = 90.0, alive: object = None,
               security: Mapping[str, Any] | None = None) -> bool:
    """Polls the broker's metadata until it answers, with backoff; never a fixed sleep."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while time.monotonic() < deadline:
        if callable(alive) and not alive():
            return False
        if broker_ready(bootstrap, security=security):
            return True
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    return False


def create_topics(bootstrap: str, specs: Iterable[TopicSpec], replication: int = 1,
                  security: Mapping[str, Any] | None = None) -> list[str]:
    """Creates the missing topics of the contract and returns their names; existing ones are left as they are."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-topics", **kafka_python_kwargs(security))
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        for spec in specs:
            if spec.name in existing:
                continue
            topic = NewTopic(spec.name, spec.partitions, replication, topic_configs=dict(spec.config))
            try:
                admin.create_topics([topic], timeout_ms=30_000)
                created.append(spec.name)
            except TopicAlreadyExistsError:
                log.info("topic %s appeared meanwhile", spec.name)
    finally:
        admin.close()
    return created


def describe_topics(bootstrap: str, names: Iterable[str], security: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Returns the partition count of each named topic that exists."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-topics", **kafka_python_kwargs(security))
    try:
        wanted = list(names)
        meta = admin.describe_topics(wanted)
        return {m["topic"]: len(m["partitions"]) for m in meta if not m.get("error_code")}
    finally:
        admin.close()


def delete_topics(bootstrap: str, names: Iterable[str], security: Mapping[str, Any] | None = None) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-topics", **kafka_python_kwargs(security))
    try:
        admin.delete_topics(list(names), timeout_ms=30_000)
    finally:
        admin.close()
