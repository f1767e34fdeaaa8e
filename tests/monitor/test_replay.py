from __future__ import annotations

from datetime import timedelta

from monitor.pacing import Pacer
from monitor.pseudonym import patient_key
from monitor.reading_table import load_readings, write_reading_file
from monitor.records import Reading
from monitor.replay import ReplayFilter, patient_filter, replay, schedule
from monitor.synthetic_cohort import CohortSpec, generate

SECRET = b"vigil-test-secret-0123456789"


class ListPublisher:
    def __init__(self) -> None:
        self.sent: list[Reading] = []
        self.flushes = 0

    def send(self, reading: Reading) -> None:
        self.sent.append(reading)

    def flush(self, timeout_s: float | None = None) -> None:
        self.flushes += 1


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def cohort(patients: int = 3, days: int = 1) -> list[Reading]:
    return generate(CohortSpec(patients=patients, days=days, seed=7), SECRET)


def test_replay_keeps_measured_at_and_each_patients_order():
    readings = cohort()
    pub = ListPublisher()
    result = replay(schedule(readings), pub, Pacer(None, FakeTime().clock, FakeTime().sleep))
    assert result.sent == len(readings) == len(pub.sent)
    assert sorted(pub.sent, key=lambda r: r.reading_id) == sorted(readings, key=lambda r: r.reading_id)
    for key in {r.patient_key for r in readings}:
        assert [r.reading_id for r in pub.sent if r.patient_key == key] == \
               [r.reading_id for r in readings if r.patient_key == key]
    times = [r.measured_at for r in pub.sent]
    assert times == sorted(times)  # patients are interleaved on event time


def test_replay_at_100x_takes_span_over_100_on_the_injected_clock():
    readings = cohort(patients=2)
    ordered = schedule(readings)
    t = FakeTime()
    replay(ordered, ListPublisher(), Pacer(100.0, t.clock, t.sleep))
    span = (ordered[-1].measured_at - ordered[0].measured_at).total_seconds()
    assert abs(t.now - span / 100) < 1e-6


def test_filters_patients_and_window():
    readings = cohort()
    wanted = readings[0].patient_key
    start = readings[0].measured_at + timedelta(hours=2)
    end = start + timedelta(hours=1)
    kept = schedule(readings, ReplayFilter(frozenset({wanted}), start, end))
    assert kept and {r.patient_key for r in kept} == {wanted}
    assert all(start <= r.measured_at < end for r in kept)
    expected = [r for r in readings if r.patient_key == wanted and start <= r.measured_at < end]
    assert kept == expected


def test_patient_filter_accepts_keys_and_enrolment_ids():
    key = patient_key("enrol-9", SECRET)
    assert patient_filter(["enrol-9"], SECRET) == frozenset({key})
    assert patient_filter([key], SECRET) == frozenset({key})
    assert patient_filter(None, SECRET) is None


def test_flush_every_and_final_flush():
    pub = ListPublisher()
    t = FakeTime()
    replay(cohort(patients=1)[:10], pub, Pacer(None, t.clock, t.sleep), flush_every=4)
    assert pub.flushes == 3  # after 4, after 8, and the final one


def test_reading_file_round_trip_feeds_replay(tmp_path):
    readings = cohort(patients=2)
    path = write_reading_file(readings, tmp_path / "r.parquet")
    assert load_readings(path) == readings


def _consent(key: str, *changes: tuple[str, int]):
    from datetime import UTC, datetime

    from monitor.consent import Action, ConsentEvent, ConsentState, Scope

    state = ConsentState(key)
    for action, day in changes:
        state = state.with_event(ConsentEvent(key, Scope.RESEARCH, Action(action), "v1",
                                              datetime(2026, 1, day, tzinfo=UTC), "research-office"))
    return state


def test_study_namespace_replays_only_research_consented_patients():
    import argparse
    from datetime import UTC, datetime

    from monitor.config import Settings
    from monitor.replay import replay_filter

    a, b, c = ("pk_" + ch * 32 for ch in "abc")
    states = [_consent(a, ("grant", 1)), _consent(b, ("grant", 1), ("revoke", 3)), _consent(c)]
    now = datetime(2026, 1, 5, tzinfo=UTC)
    args = argparse.Namespace(patients=None, start=None, end=None, namespace="study42")
    assert replay_filter(args, Settings(), states, now).patients == frozenset({a})
    args.patients = [b, a]
    assert replay_filter(args, Settings(), states, now).patients == frozenset({a})
    live = argparse.Namespace(patients=None, start=None, end=None, namespace=None)
    assert replay_filter(live, Settings(), states, now).patients is None
