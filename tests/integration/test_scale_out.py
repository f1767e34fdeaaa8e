"""Scale-out on a real broker: two workers share the 12 readings partitions; one is SIGKILLed mid-run.

After the rebalance the survivor fences the dead worker's transactions and resumes its partitions from the
changelog, so the alerts topic (read_committed) holds exactly the alert records of an uninterrupted run.
"""

from __future__ import annotations

import time
from collections import Counter

from monitor import engine
from monitor.records import Alert, from_json, to_json
from monitor.synthetic_cohort import CohortSpec, generate
from monitor.topics import ALERTS, READINGS, namespaced
from tests.integration.kafka_helpers import FAST_GROUP, GroupProgress, producer, read_topic, wait_until

SECRET = b"vigil-test-secret-0123456789"


def feed() -> list:
    """Ten patients' day of CGM with lows and gaps, interleaved in event time as a live feed would be."""
    readings = generate(CohortSpec(patients=10, days=1, seed=11), SECRET)
    return sorted(readings, key=lambda r: (r.measured_at, r.patient_key))


def uninterrupted_alerts(readings: list) -> Counter[str]:
    """The alert records one worker emits without interruption: the same pure engine, in partition order."""
    forecaster = engine.default_forecaster()
    states: dict[str, engine.MonitorState | None] = {}
    out: Counter[str] = Counter()
    for r in readings:
        step = engine.process(states.get(r.patient_key), r, r.received_at, forecaster=forecaster)
        states[r.patient_key] = step.state
        out.update(a.record_key for a in step.alerts)
    return out


def wrong_alerts(expected: Counter[str], records: list) -> dict[str, object]:
    """The alert records lost, duplicated or not in the uninterrupted run (all three, so a failure shows whether a
    lost alert came with a replacement)."""
    got = Counter(from_json(value, Alert).record_key for _, value in records)
    return {"lost": sorted(set(expected) - set(got)), "duplicated": {k: n for k, n in got.items() if n > 1},
            "extra": sorted(set(got) - set(expected))}


NONE_WRONG = {"lost": [], "duplicated": {}, "extra": []}


def test_killing_one_of_two_workers_loses_and_duplicates_no_alert(kafka_bootstrap, namespace, make_worker,
                                                                   tmp_path, worker_runtime):
    readings = feed()
    env = {**FAST_GROUP, "vigil_model_store": str(tmp_path / "no-model")}  # AR2, as the reference run
    expected = uninterrupted_alerts(readings)
    assert len(expected) >= 10, "the cohort must produce alerts, or the test proves nothing"
    topic = namespaced(READINGS, namespace)
    first, rest = readings[: len(readings) * 2 // 3], readings[len(readings) * 2 // 3:]
    survivor = make_worker(namespace, **env).start()
    victim = make_worker(namespace, **env).start()
    progress = GroupProgress(kafka_bootstrap, namespace)
    try:
        assert wait_until(lambda: progress.members() == 2, timeout_s=60), "the two workers never shared the group"
        prod = producer(kafka_bootstrap)
        for r in first:
            prod.send(topic, key=r.patient_key.encode(), value=to_json(r))
        prod.flush()
        # kill while the second worker is mid-run: some offsets committed, many readings still in flight
        assert wait_until(lambda: progress.committed() > 0, timeout_s=60, interval_s=0.05)
        at_kill = progress.committed()
        victim.kill()
        assert at_kill < len(first), "all work was done before the kill; the test would prove nothing"
        for r in rest:
            prod.send(topic, key=r.patient_key.encode(), value=to_json(r))
        prod.flush()
        prod.close()
        started = time.monotonic()
        assert wait_until(lambda: progress.committed() >= len(readings), timeout_s=120), (
            f"lag never reached zero: committed {progress.committed()} of {len(readings)}\n{survivor.tail()}")
        took_over_s = time.monotonic() - started
    finally:
        progress.close()
    records = read_topic(kafka_bootstrap, namespaced(ALERTS, namespace), min_count=sum(expected.values()),
                         settle_s=3.0, committed_only=True)
    survivor.stop()
    assert wrong_alerts(expected, records) == NONE_WRONG, f"killed at {at_kill} committed"
    assert took_over_s < 120


def test_a_stalled_worker_is_fenced_when_it_wakes_and_nothing_is_duplicated(kafka_bootstrap, namespace, make_worker,
                                                                            tmp_path, worker_runtime):
    """SIGSTOP one of two workers (a long GC pause, a frozen VM) until the group has moved its partitions, then
    SIGCONT it: whatever it had in flight must be refused (its transactional ids were fenced by the new owner)."""
    readings = feed()
    env = {**FAST_GROUP, "vigil_model_store": str(tmp_path / "no-model")}
    expected = uninterrupted_alerts(readings)
    topic = namespaced(READINGS, namespace)
    first, rest = readings[: len(readings) // 2], readings[len(readings) // 2:]
    survivor = make_worker(namespace, **env).start()
    stalled = make_worker(namespace, **env).start()
    progress = GroupProgress(kafka_bootstrap, namespace)
    prod = producer(kafka_bootstrap)
    try:
        assert wait_until(lambda: progress.members() == 2, timeout_s=60), "the two workers never shared the group"
        for r in first:
            prod.send(topic, key=r.patient_key.encode(), value=to_json(r))
        prod.flush()
        assert wait_until(lambda: progress.committed() > 0, timeout_s=60, interval_s=0.05)
        stalled.pause()
        at_pause = progress.committed()
        for r in rest:
            prod.send(topic, key=r.patient_key.encode(), value=to_json(r))
        prod.flush()
        assert at_pause < len(readings), "all work was done before the pause; the test would prove nothing"
        assert wait_until(lambda: progress.committed() >= len(readings), timeout_s=120), (
            f"the survivor never took over: committed {progress.committed()} of {len(readings)}\n{survivor.tail()}")
        assert wait_until(lambda: progress.members() == 1, timeout_s=30), "the group never dropped the stalled worker"
        stalled.resume()
        # awake, it tries to finish what it had in flight and finds its producers fenced: it either stops on that
        # error (batch) or rejoins the group (faust); either way it has had its chance to write a duplicate
        assert wait_until(lambda: stalled.proc.poll() is not None or progress.members() == 2, timeout_s=60), (
            f"the stalled worker neither stopped nor rejoined after it woke\n{stalled.tail()}")
    finally:
        prod.close()
        progress.close()
    records = read_topic(kafka_bootstrap, namespaced(ALERTS, namespace), min_count=sum(expected.values()),
                         settle_s=3.0, committed_only=True)
    assert wrong_alerts(expected, records) == NONE_WRONG, f"paused at {at_pause} committed"
