"""The thin faust agents, driven with agent.test_context() (no broker): readings, acks, config, ticks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor import engine
from monitor.agents import register
from monitor.app import create_app
from monitor.config import Settings
from monitor.records import Alert, AlertState, DeadLetter, from_json, to_json
from monitor.targets import DEFAULT_TARGETS, PatientConfig, with_overrides
from monitor.testing import T0, FakeClock, ack, reading


@pytest.fixture
def wired():
    wiring = create_app(Settings(namespace="unit"), store="memory://")
    clock = FakeClock(T0)
    agents = register(wiring, clock=clock, tick_seconds=3600)
    sent: dict[str, list[bytes]] = {"alerts": [], "deadletter": [], "summaries": []}

    def capture(name):
        async def send(*, key=None, value=None, **_):
            sent[name].append(value)
        return send

    wiring.alerts.send = capture("alerts")
    wiring.deadletter.send = capture("deadletter")
    wiring.summaries.send = capture("summaries")
    return wiring, agents, sent, clock


async def test_reading_agent_scores_and_emits_one_alert(wired):
    wiring, agents, sent, _ = wired
    async with agents.score_readings.test_context() as agent:
        r = reading(60, 0)
        await agent.put(key=r.patient_key.encode(), value=to_json(r))
        await agent.put(key=r.patient_key.encode(), value=to_json(r))  # duplicate
        await agent.put(key=b"p1", value=b"garbage")
    alerts = [from_json(v, Alert) for v in sent["alerts"]]
    assert [(a.kind, a.state) for a in alerts] == [("low", AlertState.OPEN)]
    assert [from_json(v, DeadLetter).stage for v in sent["deadletter"]] == ["parse"]
    assert engine.load_state(wiring.state["p1"]).duplicates == 1


async def test_config_agent_sets_targets_used_by_scoring(wired):
    _, agents, sent, _ = wired
    config = PatientConfig("p1", with_overrides(DEFAULT_TARGETS, {"low": 75, "high": 220}))
    async with agents.apply_config.test_context() as agent:
        await agent.put(key=b"p1", value=config.to_json())
        await agent.put(key=b"p1", value=b'{"type": "patient_config", "schema_version": 1}')
    async with agents.score_readings.test_context() as agent:
        r = reading(73, 0)
        await agent.put(key=b"p1", value=to_json(r))
    assert [from_json(v, Alert).kind for v in sent["alerts"]] == ["low"]
    assert [from_json(v, DeadLetter).stage for v in sent["deadletter"]] == ["config"]


async def test_ack_agent_and_tick_agent(wired):
    wiring, agents, sent, clock = wired
    async with agents.score_readings.test_context() as agent:
        await agent.put(key=b"p1", value=to_json(reading(65, 0)))
    opened = from_json(sent["alerts"][0], Alert)
    async with agents.apply_acks.test_context() as agent:
        await agent.put(key=b"p1", value=to_json(ack(opened, T0 + timedelta(minutes=1))))
    clock.advance(minutes=25)
    elsewhere = (wiring.partition_of("p1") + 1) % 12
    async with agents.apply_ticks.test_context() as agent:  # one tick per partition: p1's partition only counts
        await agent.put(key=b"tick", value=clock().isoformat().encode(), partition=elsewhere)
        assert len(sent["alerts"]) == 2
        await agent.put(key=b"tick", value=clock().isoformat().encode(), partition=wiring.partition_of("p1"))
        await agent.put(key=b"tick", value=b"not a time", partition=wiring.partition_of("p1"))
    states = [(a.kind, a.state) for a in (from_json(v, Alert) for v in sent["alerts"])]
    assert states == [("low", AlertState.OPEN), ("low", AlertState.ACKNOWLEDGED), ("no_data", AlertState.OPEN)]
    assert [from_json(v, DeadLetter).stage for v in sent["deadletter"]] == ["tick"]


def test_partition_of_matches_kafka_default_partitioner(wired):
    from kafka.partitioner.default import murmur2

    wiring = wired[0]
    for key in ("p1", "pk-sigkill-3", "a" * 40):
        assert wiring.partition_of(key) == (murmur2(key.encode()) & 0x7FFFFFFF) % 12
