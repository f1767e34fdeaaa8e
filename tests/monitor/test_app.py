"""monitor.app.Transactional routes writes into the input partition's transaction (fakes for faust's producer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from monitor.app import Transactional, create_app
from monitor.config import Settings


@dataclass
class FakeProducer:
    started: bool = True
    sent: list[tuple[Any, ...]] = field(default_factory=list)

    async def send(self, topic: str, key: bytes, value: bytes, partition: int | None, timestamp: Any, headers: Any,
                   *, transactional_id: str | None = None) -> None:
        self.sent.append((topic, key, value, partition, transactional_id))


@pytest.fixture
def make_txn():
    def factory(in_transaction: bool = True, started: bool = True):
        wiring = create_app(Settings(namespace="unit"))
        producer = FakeProducer(started=started)
        app = SimpleNamespace(in_transaction=in_transaction, producer=producer, conf=SimpleNamespace(id="grp"),
                              assignor=SimpleNamespace(group_for_topic=lambda topic: 1))
        return wiring, Transactional(app), producer  # type: ignore[arg-type]
    return factory


def event_on(partition: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(topic="unit.vigil.readings.v1", partition=partition))


async def test_an_output_goes_into_the_transaction_of_the_input_partition(make_txn):
    wiring, txn, producer = make_txn()
    await txn.send(wiring.alerts, key=b"pk-1", value=b"{}", event=event_on(7))
    assert producer.sent == [("unit.vigil.alerts.v1", b"pk-1", b"{}", None, "grp-1-7")]


async def test_a_table_write_sends_faust_serialized_changelog_in_the_transaction(make_txn):
    wiring, txn, producer = make_txn()
    await txn.set(wiring.state, "pk-1", b'{"s":1}', event=event_on(3))
    assert wiring.state.data["pk-1"] == b'{"s":1}'
    assert producer.sent == [("unit.vigil-monitor-patient-state-changelog", b'"pk-1"', b'{"s":1}', 3, "grp-1-3")]


@pytest.mark.parametrize(("in_transaction", "started", "event"), [
    (False, True, event_on(0)),  # at-least-once deployments
    (True, False, event_on(0)),  # agent.test_context(): the producer never started
    (True, True, None),  # no input event (a timer)
])
async def test_without_a_transaction_it_is_a_plain_write(make_txn, in_transaction, started, event):
    wiring, txn, producer = make_txn(in_transaction, started)
    sent: list[bytes] = []

    async def send(*, key: bytes, value: bytes) -> None:
        sent.append(value)

    wiring.alerts.send = send
    await txn.send(wiring.alerts, key=b"pk-1", value=b"{}", event=event)
    assert sent == [b"{}"]
    assert producer.sent == []
