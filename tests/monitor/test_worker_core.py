"""The batch worker's pure core: the same alerts as the engine, dead letters for bad input, one table write per
patient and flush."""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor import engine, topics, worker_core
from monitor.records import Alert, DeadLetter, from_json, to_json
from monitor.state_cache import StateCache
from monitor.targets import PatientConfig, Targets
from monitor.testing import MonitorHarness, ack, cgm_series
from monitor.worker_core import Origin, Out, PartitionTables, WorkerCore, handle

ORIGIN = Origin("t.vigil.readings.v1", 3, 41)
DIP = [120, 110, 95, 80, 66, 58, 52, 50, 49, 60, 75, 90, 110, 120, 125, 130]


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


def test_a_tick_of_some_keys_checks_only_those_and_skips_a_patient_no_longer_there(make_core, tables, clock):
    core = make_core()
    handle(core, tables, "readings", [(to_json(r), ORIGIN) for r in cgm_series([120, 121, 122])])
    tables.flush()
    clock.advance(minutes=25)
    assert core.tick(tables, clock(), keys=["someone-else"]) == []  # not in this partition: skipped
    assert core.tick(tables, clock(), keys=[]) == []  # p1's silence is not checked in this slice
    opened = alerts_of(core.tick(tables, clock(), keys=["p1"]))
    assert [(a.kind, a.state.value) for a in opened] == [("no_data", "open")]


def test_restored_bytes_are_the_state_and_a_tombstone_forgets_it(tables):
    state = replace(engine.initial("p1"))
    tables.restore(worker_core.STATE, "p1", engine.dump_state(state))
    assert tables.state("p1") == state and tables.patients() == ["p1"]
    tables.restore(worker_core.STATE, "p1", None)
    assert tables.state("p1") is None and tables.patients() == []



# -- deferred state writes (the rdkafka runtime): a state changed only by readings may wait; the readings since
#    its last write are scored again after a failover

DEFER = worker_core.StateWrites(seconds=300.0, records=100, patients=3)


@pytest.fixture
def deferred() -> PartitionTables:
    return PartitionTables(StateCache(), DEFER)


def feed(core: WorkerCore, tables: PartitionTables, readings, first_offset: int) -> list[Out]:
    return handle(core, tables, "readings", [(to_json(r), Origin(ORIGIN.topic, ORIGIN.partition, first_offset + i))
                                             for i, r in enumerate(readings)])


def test_a_state_changed_by_readings_waits_and_names_where_a_new_owner_starts_again(make_core, deferred, clock):
    core = make_core()
    feed(core, deferred, cgm_series(DIP[:3]) + cgm_series(DIP[:2], patient="p2"), first_offset=10)
    latest = deferred.state("p1")
    assert deferred.flush(clock().timestamp()) == []
    assert deferred.replay_from() == 10 and deferred.head == 14
    assert list(deferred.waiting) == ["p1", "p2"] and sorted(deferred.patients()) == ["p1", "p2"]
    assert deferred.state("p1") is latest and latest is not None and len(latest.seen) == 3


@pytest.mark.parametrize(("head", "later_seconds", "written"), [
    (50, 0, []),
    (109, 299, []),
    (110, 0, ["p1"]),  # p1 began to wait at offset 10; offset 110 is 100 readings later
    (150, 0, ["p1", "p2"]),
    (50, 300, ["p1", "p2"]),  # both began to wait at the same time
])
def test_a_waiting_state_is_written_after_its_records_or_seconds(make_core, deferred, clock, head, later_seconds,
                                                                written):
    core = make_core()
    feed(core, deferred, cgm_series(DIP[:1]), first_offset=10)
    feed(core, deferred, cgm_series(DIP[:1], patient="p2"), first_offset=50)
    assert deferred.flush(clock().timestamp()) == []
    deferred.head = head
    outs = deferred.flush(clock().timestamp() + later_seconds)
    assert [topics.key_of_changelog(o.key) for o in outs] == written
    assert all(o.through == head for o in outs)
    assert deferred.replay_from() == (None if "p2" in written else 50 if written else 10)


def test_at_most_the_limit_of_patients_wait_and_the_oldest_goes_first(make_core, deferred, clock):
    core = make_core()
    for i, patient in enumerate(["p1", "p2", "p3", "p4", "p5"]):
        feed(core, deferred, cgm_series(DIP[:1], patient=patient), first_offset=i)
    outs = deferred.flush(clock().timestamp())
    assert [o.key for o in outs] == [b'"p1"', b'"p2"']
    assert list(deferred.waiting) == ["p3", "p4", "p5"] and deferred.replay_from() == 2


def test_an_ack_or_new_targets_write_the_state_at_the_next_flush_even_if_readings_follow(make_core, deferred, clock):
    core = make_core()
    opened = alerts_of(feed(core, deferred, cgm_series(DIP[:10]), first_offset=0))
    assert opened and deferred.flush(clock().timestamp()) == []
    handle(core, deferred, "acks", [(to_json(ack(opened[0], clock())), ORIGIN)])
    feed(core, deferred, cgm_series(DIP[10:12], start_min=50), first_offset=10)  # would wait on their own
    handle(core, deferred, "patient_config", [(PatientConfig("p2", Targets(low=80.0)).to_json(), ORIGIN)])
    feed(core, deferred, cgm_series(DIP[:1], patient="p2"), first_offset=12)  # p2 waits: targets came first
    written = deferred.flush(clock().timestamp())
    assert [(o.topic, o.key) for o in written] == [(worker_core.STATE, b'"p1"'), (worker_core.CONFIG, b'"p2"')]
    assert list(deferred.waiting) == ["p2"]
    handle(core, deferred, "patient_config", [(PatientConfig("p2", Targets(low=70.0)).to_json(), ORIGIN)])
    assert [(o.topic, o.key) for o in deferred.flush(clock().timestamp())] == [
        (worker_core.STATE, b'"p2"'), (worker_core.CONFIG, b'"p2"')]  # scored with the old targets: written


def test_everything_writes_every_waiting_state(make_core, deferred, clock):
    feed(make_core(), deferred, cgm_series(DIP[:2]) + cgm_series(DIP[:2], patient="p2"), first_offset=0)
    assert sorted(o.key for o in deferred.flush(clock().timestamp(), everything=True)) == [b'"p1"', b'"p2"']
    assert deferred.waiting == {} and deferred.replay_from() is None


def test_by_default_every_change_is_written_and_nothing_waits(make_core, tables, clock):
    feed(make_core(), tables, cgm_series(DIP[:2]), first_offset=0)
    assert [o.key for o in tables.flush(clock().timestamp())] == [b'"p1"'] and tables.replay_from() is None


STREAM = (cgm_series(DIP, patient="p1") + cgm_series(DIP[::-1], patient="p2", start_min=1)
          + cgm_series(DIP, patient="p3", start_min=2))
STREAM.sort(key=lambda r: r.measured_at)


@pytest.mark.parametrize("crash_after", [0, 7, 19, 30, 47])
@pytest.mark.parametrize("writes", [DEFER, worker_core.StateWrites(300.0, 8, 2)])
def test_a_new_owner_that_replays_from_the_committed_offset_has_the_uninterrupted_states_and_alerts(
        make_core, clock, crash_after, writes):
    """A worker commits after every 4 readings, then dies; the next restores what it wrote and scores again from
    its replay offset: afterwards the states and every later alert are those of a run without the failover."""
    reference_tables = PartitionTables(StateCache())
    reference = feed(make_core(), reference_tables, STREAM, first_offset=0)

    first, changelog, committed, floor, outs = PartitionTables(StateCache(), writes), {}, 0, None, []
    core = make_core()
    for start in range(0, crash_after, 4):
        batch = STREAM[start:min(start + 4, crash_after)]
        outs += feed(core, first, batch, first_offset=start)
        changelog.update({o.key: o for o in first.flush(clock().timestamp()) if o.topic == worker_core.STATE})
        committed, floor = start + len(batch), first.replay_from()

    second, held = PartitionTables(StateCache(), writes), {}
    for o in changelog.values():
        second.restore(worker_core.STATE, topics.key_of_changelog(o.key), o.value)
        held[topics.key_of_changelog(o.key)] = o.through
    second.head = committed - 1
    replayed = [] if floor is None else [
        out for i in range(floor, committed) for out in make_core().reading(
            second, to_json(STREAM[i]), Origin(ORIGIN.topic, ORIGIN.partition, i), clock(), replaying=held)]
    committed_alerts = [(a.alert_id, a.state) for a in alerts_of(outs)]
    assert all((a.alert_id, a.state) in committed_alerts for a in alerts_of(replayed))  # dropped: committed before
    outs += feed(make_core(), second, STREAM[committed:], first_offset=committed)

    assert alerts_of(outs) == alerts_of(reference)
    assert len(alerts_of(reference)) >= 2, "the stream must alert, or the comparison proves nothing"
    for key in ("p1", "p2", "p3"):
        assert engine.dump_state(second.state(key)) == engine.dump_state(reference_tables.state(key))


def test_a_patient_no_longer_monitored_gets_no_tick_alert_and_no_state_written(make_core, deferred, clock):
    monitored = {"p1": True, "p2": True}
    core = WorkerCore(clock=clock, forecaster_for=make_core().forecaster_for,
                      monitored=lambda key, now: monitored[key])
    feed(core, deferred, cgm_series([120, 121]) + cgm_series([120, 121], patient="p2"), first_offset=0)
    assert deferred.flush(clock().timestamp(), keep=core.keeps(clock())) == []  # both wait
    monitored["p2"] = False  # consent withdrawn, or the patient erased
    clock.advance(minutes=25)
    opened = alerts_of(core.tick(deferred, clock()))
    assert [(a.patient_key, a.kind) for a in opened] == [("p1", "no_data")]
    written = deferred.flush(clock().timestamp(), everything=True, keep=core.keeps(clock()))
    assert [o.key for o in written] == [b'"p1"']  # p2's waiting state is dropped, never written
    assert deferred.waiting == {} and deferred.changed == {} and deferred.replay_from() is None
