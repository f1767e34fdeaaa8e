"""The notifier's Kafka module on the real broker: subscribing again (its guard's remedy) keeps reading."""

from __future__ import annotations

import time

from monitor.notifier_kafka import Incoming, NotifierKafka
from monitor.topics import ALERTS, namespaced
from tests.integration.kafka_helpers import producer


def read_until(kafka: NotifierKafka, value: bytes, timeout_s: float = 30.0) -> list[Incoming]:
    got: list[Incoming] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not any(i.value == value for i in got):
        got.extend(kafka.poll(timeout_ms=200))
    return got


def test_after_subscribing_again_the_consumer_is_assigned_and_reads_new_alerts(kafka_bootstrap: str,
                                                                                namespace: str) -> None:
    kafka = NotifierKafka(kafka_bootstrap, namespace, f"{namespace}.notifier")
    prod = producer(kafka_bootstrap)
    try:
        prod.send(namespaced(ALERTS, namespace), key=b"pk_1", value=b"first").get(10)
        assert any(i.value == b"first" and i.topic == ALERTS for i in read_until(kafka, b"first"))
        kafka.commit()
        kafka.subscribe_again()
        prod.send(namespaced(ALERTS, namespace), key=b"pk_2", value=b"second").get(10)
        again = read_until(kafka, b"second")
        assert any(i.value == b"second" for i in again)
        assert b"first" not in {i.value for i in again}  # its offset was committed before
        assert kafka.consumer is not None and kafka.consumer.assignment()
    finally:
        prod.close()
        kafka.close()
