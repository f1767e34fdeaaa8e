from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from monitor import evaluate as ev
from monitor.eval_report import write_report
from monitor.policies import Point, PolicyAlert
from monitor.reading_table import readings_to_table
from monitor.records import Ack, AckAction
from monitor.synthetic_cohort import CohortSpec, generate

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PK = "pk_" + "2" * 32
SECRET = b"vigil-test-secret-0123456789"


def pts(*values: float, start: float = 0.0, step: float = 5.0) -> list[Point]:
    return [Point(T0 + timedelta(minutes=start + i * step), v) for i, v in enumerate(values)]


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def alert(minute: float, kind: str = "low", alert_id: str | None = None) -> PolicyAlert:
    return PolicyAlert("p", PK, at(minute), kind, None, alert_id)


@pytest.mark.parametrize(("values", "expected"), [
    ((100, 65, 65, 65, 65, 90), [(5, 25)]),  # 15 min below (5..20), ends at the first reading back (25)
    ((100, 65, 65, 65, 90), []),  # only 10 min below: a compression low, not a true episode
    ((65, 65, 65, 65), [(0, 15)]),  # still low at the end of data: ends at its last reading
    ((100, 60, 69.9, 60, 60, 70, 60), [(5, 25)]),  # 70 is not below 70
])
def test_true_episodes_need_15_minutes_below(values, expected):
    eps = ev.true_episodes(PK, pts(*values), 70.0)
    assert [((e.start - T0).total_seconds() / 60, (e.end - T0).total_seconds() / 60) for e in eps] == expected


def test_a_gap_over_15_minutes_splits_a_run():
    points = pts(60, 60, 60) + pts(60, 60, 60, start=40)
    assert [(e.start - T0).total_seconds() / 60 for e in ev.true_episodes(PK, points, 70.0)] == []
    points = pts(60, 60, 60, 60) + pts(60, 60, 60, 60, start=40)
    assert len(ev.true_episodes(PK, points, 70.0)) == 2


def test_sensitivity_lead_time_false_alerts_and_alerts_per_episode():
    episodes = {70.0: ev.true_episodes(PK, pts(100, *[60] * 6, 100, *[100] * 20, *[65] * 5, 100), 70.0),
                54.0: []}
    assert [(e.start - T0).total_seconds() / 60 for e in episodes[70.0]] == [5, 140]
    m = ev.PolicyMetrics("p", patient_days=2)
    # episode 1 (5..35): alerts at -20 (lead 25 min) and 10; episode 2 (140..165) missed; one false alert at 60
    ev.score_patient(m, [alert(-20), alert(10), alert(60), alert(100, "high")], episodes)
    assert m.sensitivity(70.0) == 0.5
    assert m.median_lead(70.0) == 25.0
    assert m.sensitivity(54.0) is None
    assert m.false_low_alerts == 1 and m.false_alerts_per_patient_day == 0.5
    assert m.alerts_per_episode == 1.0  # 2 low alerts in episode windows / 2 episodes
    assert m.alerts_per_patient_day == 2.0


def test_alert_too_early_does_not_count():
    episodes = {70.0: ev.true_episodes(PK, pts(100, *[60] * 6, 100, start=100), 70.0)}
    m = ev.PolicyMetrics("p", patient_days=1)
    ev.score_patient(m, [alert(40)], episodes)  # 65 min before the start at 105
    assert m.sensitivity(70.0) == 0.0 and m.false_low_alerts == 1


def test_time_to_acknowledge_uses_the_first_record_and_the_first_ack():
    alerts = [alert(0, alert_id="a1"), alert(10, "urgent_low", alert_id="a1"), alert(20, alert_id="a2"),
              alert(30, alert_id="a3")]
    acks = [Ack("k1", "a1", PK, AckAction.ACK, "nurse-1", at(7), "sms"),
            Ack("k2", "a1", PK, AckAction.ACK, "nurse-2", at(9), "sms"),
            Ack("k3", "a2", PK, AckAction.ACK, "nurse-1", at(23), "cli")]
    assert sorted(ev.ack_delays(alerts, acks)) == [3.0, 7.0]


def test_evaluate_cohort_and_frame_agree_and_report_is_written(tmp_path):
    readings = generate(CohortSpec(patients=2, days=2, seed=11), SECRET)
    names = ["default", "nightscout-simple", "xdrip-like", "dexcom-like", "nightscout-ar2"]
    direct = ev.evaluate(readings, names)
    path = tmp_path / "c.parquet"
    pq.write_table(readings_to_table(readings), path)
    framed = ev.evaluate_frame(pq.read_table(path).to_pandas(), names)
    assert {n: m.row() for n, m in direct.metrics.items()} == {n: m.row() for n, m in framed.metrics.items()}
    assert direct.metrics["default"].patient_days == 4
    assert direct.metrics["nightscout-simple"].episodes[70.0] > 0
    report = write_report(direct, readings, tmp_path / "report", source="c.parquet")
    text = report.read_text()
    assert "| default |" in text and "Definitions" in text
    assert (tmp_path / "report" / "trace.png").stat().st_size > 1000
    assert (tmp_path / "report" / "policy_comparison.png").stat().st_size > 1000
    html = write_report(direct, readings, tmp_path / "html", source="c.parquet", fmt="html")
    assert "<table>" in html.read_text()


def test_unknown_policy_is_refused():
    with pytest.raises(KeyError, match="unknown policy"):
        ev.evaluate([], ["nope"])


def test_patients_in_parallel_processes_give_the_identical_evaluation():
    readings = generate(CohortSpec(patients=5, days=2, seed=12), SECRET)
    names = ["default", "nightscout-simple", "xdrip-like"]
    serial = ev.evaluate(readings, names)
    parallel = ev.evaluate(readings, names, workers=2)
    assert parallel.alerts == serial.alerts and len(serial.alerts["default"]) > 0
    assert parallel.episodes == serial.episodes
    assert {n: m.row() for n, m in parallel.metrics.items()} == {n: m.row() for n, m in serial.metrics.items()}


def test_report_drawn_with_a_forked_trace_has_the_same_bytes(tmp_path):
    readings = generate(CohortSpec(patients=2, days=2, seed=11), SECRET)
    evaluation = ev.evaluate(readings, ["default", "xdrip-like"])
    files = {}
    for workers in (1, 2):
        out = write_report(evaluation, readings, tmp_path / str(workers), source="c.parquet", workers=workers).parent
        files[workers] = {f.name: f.read_bytes() for f in sorted(out.iterdir())}
    assert set(files[1]) == {"report.md", "trace.png", "policy_comparison.png"}
    assert files[2] == files[1]


def test_cli_evaluate_reads_the_file_and_thaws_the_collector(tmp_path, capsys):
    import argparse
    import gc

    readings = generate(CohortSpec(patients=2, days=1, seed=11), SECRET)
    path = tmp_path / "c.parquet"
    pq.write_table(readings_to_table(readings), path)
    args = argparse.Namespace(source=path, policies=["xdrip-like"], out=tmp_path / "r", format="md", acks=None,
                              patient=None, day=None, workers=1)
    frozen = gc.get_freeze_count()
    assert ev.cli_evaluate(args, None) == 0
    assert gc.get_freeze_count() == frozen
    expected = ev.evaluate(readings, ["xdrip-like"]).metrics["xdrip-like"]
    assert f"alerts={expected.alerts}" in capsys.readouterr().out


def test_frame_empty_cells_are_none_as_in_the_file_path(tmp_path):
    from monitor.reading_table import table_to_readings
    from monitor.records import ReadingKind
    from monitor.testing import reading

    rows = [reading(120, 0), reading(None, 5), reading(80, 10, kind=ReadingKind.HEART_RATE, device="hr-1")]
    table = readings_to_table(rows)
    framed = ev.readings_from_frame(table.to_pandas())  # pandas turns empty text cells into NaN
    assert framed == table_to_readings(table)
    assert framed[1].value is None and framed[1].value_status == rows[1].value_status
