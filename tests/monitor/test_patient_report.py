"""`vigil report patient`: consensus metrics over a window, from a file, counting each reading once."""

from __future__ import annotations

import argparse

import pyarrow.csv as pacsv
import pytest

from monitor import patient_report
from monitor.config import Settings
from monitor.reading_table import readings_to_table, write_reading_file
from monitor.testing import T0, cgm_series, reading

DAY = 288
KEY = "pk_" + "ab" * 16


def cohort():
    # two days: 10 % below 70 (5 % below 54), 20 % above 180 (5 % above 250), the rest at 120
    day = [50] * 14 + [65] * 15 + [200] * 43 + [300] * 14 + [120] * 202
    return cgm_series(day * 2, patient=KEY, start=T0.replace(hour=0))


def test_window_metrics_against_the_consensus_targets():
    s = patient_report.window_summary(KEY, cohort(), days=2)
    assert (s.readings, s.sufficiency_pct, s.sufficient) == (576, 100.0, True)
    assert (s.tbr_pct, s.tbr54_pct, s.tar_pct, s.tar250_pct, s.tir_pct) == (10.1, 4.9, 19.8, 4.9, 70.1)
    assert "tbr_pct" in s.missed and "tir_pct" in s.met and "tar250_pct" in s.met
    assert s.gmi_pct == pytest.approx(3.31 + 0.02392 * s.mean_mgdl, abs=0.01)


def test_window_ends_at_the_newest_reading_and_counts_a_resend_once():
    readings = cohort()
    one_day = patient_report.window_summary(KEY, [*readings, *readings[-50:]], days=1)
    assert (one_day.readings, one_day.sufficiency_pct) == (DAY, 100.0)
    other = patient_report.window_summary(KEY, [*readings, reading(40, 0, patient="pk_other")], days=14)
    assert other.readings == 576 and other.sufficiency_pct == round(100 * 576 / (14 * DAY), 1)
    assert not other.sufficient


def test_render_says_met_and_missed_and_carries_the_disclaimer():
    text = patient_report.render(patient_report.window_summary(KEY, cohort(), days=2))
    assert "time below 70" in text and "MISSED" in text and "target < 4 %" in text
    assert "not medical advice" in text
    empty = patient_report.render(patient_report.window_summary("pk_none", cohort(), days=14))
    assert "0 glucose readings" in empty and "INSUFFICIENT" in empty


def run_cli(tmp_path, source, *extra):
    parser = argparse.ArgumentParser()
    patient_report.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "patient", KEY, "--days", "2", "--from", str(source), *extra])
    return args.func(args, Settings())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_cli_from_a_file(tmp_path, capsys, fmt):
    path = tmp_path / f"readings.{fmt}"
    if fmt == "parquet":
        write_reading_file(cohort(), path)
    else:
        table = readings_to_table(cohort())
        pacsv.write_csv(table.drop_columns(["components", "flags"]), path)  # a flat export: contract columns
    assert run_cli(tmp_path, path) == 0
    out = capsys.readouterr().out
    assert "576 glucose readings" in out and "10.1 %" in out
    assert run_cli(tmp_path, path, "--json") == 0
    assert '"tbr_pct":10.1' in capsys.readouterr().out
