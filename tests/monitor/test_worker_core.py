"""The batch worker's pure core: the same alerts as the engine, dead letters for bad input, one table write per
patient and flush."""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor import engine, topics, worker_core
from monitor.records import Alert, DeadLetter, from_json, to_json
from monitor.state_cache import StateCache
from monitor.targets import PatientConfig, Targets
from monitor.testing import FakeClock, MonitorHarness, ack, cgm_series
from monitor.worker_core import Origin, Out, PartitionTables, WorkerCore, handle

ORIGIN = Origin("t.vigil.readings.v1", 3, 41)
DIP = [120, 110, 95, 80, 66, 58, 52, 50, 49, 60, 75, 90, 110, 120, 125, 130]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_core(clock):
    forecaster = engine.default_forecaster()

    def factory(consent=None) -> WorkerCore:
        return WorkerCore(clock=clock, forecaster_for=lambda _key: forecaster, consent=consent)
    return factory


@pytest.fixture
def tables() -> PartitionTables:
    return PartitionTables(StateCache())


def alerts_of(outs: list[Out]) -> list[Alert]:
    return [from_json(o.value, Alert) for o in outs if o.topic == worker_core.ALERTS]


def letters_of(outs: list[Out]) -> list[DeadLetter]:
    return [from_json(o.value, DeadLetter) for o in outs if o.topic == worker_core.DEADLETTER]


def test_readings_give_exactly_the_engines_alerts(make_core, tables, clock):
    readings = cgm_series(DIP) + cgm_series(DIP, patient="p2", start_min=3)
    outs = handle(make_core(), tables, "readings", ((to_json(r), ORIGIN) for r in readings))
    reference = MonitorHarness(clock=clock)
    assert alerts_of(outs) == reference.feed(*readings)
    assert len(alerts_of(outs)) >= 2, "the dip must alert, or the comparison proves nothing"
    assert all(o.key == a.patient_key.encode() for o, a in zip(
        [o for o in outs if o.topic == worker_core.ALERTS], alerts_of(outs), strict=True))


def test_a_flush_writes_each_changed_patient_once_and_nothing_twice(make_core, tables):
    core = make_core()
    handle(core, tables, "readings", ((to_json(r), ORIGIN) for r in cgm_series(DIP[:5]) + cgm_series(
        DIP[:3], patient="p2")))
    written = tables.flush()
    assert sorted(o.key for o in written) == [b'"p1"', b'"p2"']  # faust's JSON str keys
    assert all(o.topic == worker_core.STATE for o in written)
    assert {topics.key_of_changelog(o.key): engine.load_state(o.value) for o in written} == {
        "p1": tables.state("p1"), "p2": tables.state("p2")}
    assert tables.flush() == []


@pytest.mark.parametrize(("kind", "raw", "stage", "reason_part"), [
    ("readings", b"{not json", "parse", "JSON"),
    ("readings", b"", "parse", ""),
    ("acks", b'{"kind": "ack"}', "ack", ""),
    ("patient_config", b"[]", "config", ""),
])
def test_bad_input_becomes_one_dead_letter_with_its_origin(make_core, tables, clock, kind, raw, stage, reason_part):
    outs = handle(make_core(), tables, kind, [(raw, ORIGIN)])
    assert [o.topic for o in outs] == [worker_core.DEADLETTER]
    assert outs[0].key == worker_core.DEADLETTER_KEY
    letter = letters_of(outs)[0]
    assert (letter.stage, letter.topic, letter.partition, letter.offset, letter.at) == (
        stage, ORIGIN.topic, ORIGIN.partition, ORIGIN.offset, clock())
    assert reason_part in letter.reason and letter.reason
    assert tables.flush() == []


def test_a_refused_reading_is_dead_lettered_and_never_scored(make_core, tables):
    core = make_core(consent=lambda reading, now: "no_consent: monitoring not granted")
    outs = handle(core, tables, "readings", [(to_json(r), ORIGIN) for r in cgm_series(DIP[:3])])
    assert [(d.stage, d.reason) for d in letters_of(outs)] == [("consent", "no_consent: monitoring not granted")] * 3
    assert tables.flush() == [] and tables.state("p1") is None


def test_a_scoring_failure_is_a_dead_letter_and_the_next_patient_goes_on(make_core, tables):
    tables.restore(worker_core.STATE, "p1", b"[2, not a state")
    outs = handle(make_core(), tables, "readings", [(to_json(r), ORIGIN) for r in cgm_series(
        [100], patient="p1") + cgm_series([100], patient="p2")])
    assert [d.stage for d in letters_of(outs)] == ["score"]
    assert letters_of(outs)[0].reason.startswith("scoring failed: ")
    assert [o.key for o in tables.flush()] == [b'"p2"']


def test_config_changes_the_targets_and_is_written_to_its_changelog(make_core, tables):
    config = PatientConfig("p1", Targets(low=80.0))
    assert handle(make_core(), tables, "patient_config", [(config.to_json(), ORIGIN)]) == []
    assert tables.targets("p1") == Targets(low=80.0)
    assert tables.targets("p2") == Targets()
    assert tables.flush() == [Out(worker_core.CONFIG, b'"p1"', config.to_json())]
    assert tables.flush() == []


def test_an_ack_goes_through_the_engine(make_core, tables, clock):
    core = make_core()
    opened = alerts_of(handle(core, tables, "readings", [(to_json(r), ORIGIN) for r in cgm_series(DIP[:10])]))
    assert opened, "the low must be open"
    outs = handle(core, tables, "acks", [(to_json(ack(opened[0], clock())), ORIGIN)])
    assert [a.state.value for a in alerts_of(outs)] == ["acknowledged"]


def test_a_tick_opens_no_data_once_and_rewrites_only_changed_states(make_core, tables, clock):
    core = make_core()
    handle(core, tables, "readings", [(to_json(r), ORIGIN) for r in cgm_series([120, 121, 122])])
    tables.flush()
    assert core.tick(tables, clock()) == [] and tables.flush() == []  # nothing happened: nothing written
    clock.advance(minutes=25)
    opened = alerts_of(core.tick(tables, clock()))
    assert [(a.kind, a.state.value) for a in opened] == [("no_data", "open")]
    assert [o.key for o in tables.flush()] == [b'"p1"']
    assert core.tick(tables, clock()) == []


def test_restored_bytes_are_the_state_and_a_tombstone_forgets_it(tables):
    state = replace(engine.initial("p1"))
    tables.restore(worker_core.STATE, "p1", engine.dump_state(state))
    assert tables.state("p1") == state and tables.patients() == ["p1"]
    tables.restore(worker_core.STATE, "p1", None)
    assert tables.state("p1") is None and tables.patients() == []

