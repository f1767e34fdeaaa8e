"""The profile-guided build's training workload: production-like disorder, and real scoring work done."""

from __future__ import annotations

import itertools
from collections import Counter

from monitor import compiled, pgo_training, topics
from monitor.records import Reading, ReadingKind, from_json


def test_the_feed_keeps_each_patient_in_one_partition_and_carries_the_disorder_of_a_topic():
    records = pgo_training.feed(patients=4, days=1)
    readings = [(p, from_json(raw, Reading)) for p, raw in records if b"not a number" not in raw]
    assert all(p == topics.partition_of_key(r.patient_key) for p, r in readings)
    assert {r.kind for _, r in readings} >= {ReadingKind.CGM, ReadingKind.HEART_RATE, ReadingKind.SPO2,
                                             ReadingKind.BLOOD_PRESSURE}
    sent = Counter(r.reading_id for _, r in readings)
    assert any(n == 2 for n in sent.values())  # resends
    times = [r.measured_at for _, r in readings]
    assert any(later < earlier for earlier, later in itertools.pairwise(times))  # late readings
    assert len(readings) < len(records)  # bad records for the dead-letter path
    assert pgo_training.feed(patients=4, days=1) == records  # seeded: every build trains on the same


def test_training_scores_alerts_summaries_and_dead_letters_through_a_restore():
    outputs = pgo_training.train(patients=6, days=2)
    assert outputs["alerts"] > 0 and outputs["deadletter"] > 0
    assert outputs["summaries"] == 6 * len(pgo_training.POLLS)  # each patient's first day, once a pass: the
    # restored second half continues the days the first half began (none summarized twice)


def test_training_refuses_plain_python_when_asked(monkeypatch, capsys):
    monkeypatch.setattr(compiled, "status", lambda: compiled.Status(False, "VIGIL_PURE_PYTHON is set"))
    assert pgo_training.main(["--patients", "1", "--require-compiled"]) == 2
    assert "not training: the hot path is pure Python (VIGIL_PURE_PYTHON is set)" in capsys.readouterr().err
