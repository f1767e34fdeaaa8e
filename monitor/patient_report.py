"""`vigil report patient <key> --days 14`: the consensus glucose metrics of one patient, from the topic or a file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from monitor import summary
from monitor.records import GLUCOSE_KINDS, Reading

LABELS: Final = {"tir_pct": "time in range 70-180", "tbr_pct": "time below 70", "tbr54_pct": "time below 54",
                 "tar_pct": "time above 180", "tar250_pct": "time above 250", "cv_pct": "coefficient of variation"}


def window_summary(patient_key: str, readings: Iterable[Reading], days: int,
                   until: datetime | None = None) -> summary.Summary:
    """Metrics over the `days` days ending at `until` (default: the patient's newest glucose reading).

    Each (device, event time) counts once, so a resent or backfilled reading is never counted twice.
    """
    seen: dict[tuple[str, datetime], float] = {}
    for r in readings:
        if r.patient_key == patient_key and r.kind in GLUCOSE_KINDS and r.value is not None:
            seen[(r.device_id, r.measured_at)] = r.value
    end = until or max((at for _, at in seen), default=None)
    if end is None:
        return summary.summarize(patient_key, summary.DayStats(""), days=days)
    start = end - timedelta(days=days)
    inside = sorted((at, v) for (_, at), v in seen.items() if start < at <= end)
    first = inside[0][0] if inside else end
    return summary.summarize(patient_key, summary.stats_of(first.date().isoformat(), [v for _, v in inside]),
                             days=days)


def render(s: summary.Summary) -> str:
    """The report a clinician reads: each metric against its consensus target (Battelino et al. 2019)."""
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1f} %"

    lines = [f"patient {s.patient_key}: {s.days} days from {s.start or 'n/a'}, {s.readings} glucose readings, "
             f"data sufficiency {s.sufficiency_pct:.1f} % ({'sufficient' if s.sufficient else 'INSUFFICIENT'}, "
             f"consensus >= {summary.SUFFICIENT_PCT:g} %)"]
    for name, (op, limit) in summary.CONSENSUS.items():
        value = getattr(s, name)
        mark = "met" if name in s.met else "MISSED" if name in s.missed else "n/a"
        lines.append(f"  {LABELS[name]:26} {pct(value):>8}   target {op} {limit:g} %   {mark}")
    mean = "n/a" if s.mean_mgdl is None else f"{s.mean_mgdl:.1f} mg/dL"
    gmi = "n/a" if s.gmi_pct is None else f"{s.gmi_pct:.2f} %"
    lines.append(f"  {'mean glucose':26} {mean:>8}")
    lines.append(f"  {'GMI':26} {gmi:>8}   (3.31 + 0.02392 x mean mg/dL)")
    lines.append("Automated monitoring summary, not medical advice; follow your care team's plan.")
    return "\n".join(lines)


def _from_file(path: Path) -> list[Reading]:
    from monitor.reading_table import conform, read_reading_table, table_to_readings

    if path.suffix.lower() == ".csv":
        import pyarrow.csv as pacsv

        return table_to_readings(conform(pacsv.read_csv(path)))
    return table_to_readings(read_reading_table(path))


def _from_topic(bootstrap: str, topic: str, patient_key: str) -> list[Reading]:
    from monitor.records import RecordError, from_json
    from monitor.topic_reader import consume

    out: list[Reading] = []
    wanted = patient_key.encode()
    for message in consume(bootstrap, [topic], until_end=True, idle_timeout_s=10.0):
        if message is None or message.key != wanted:
            continue
        try:
            out.append(from_json(message.value, Reading))
        except RecordError:
            continue  # the worker dead-letters these; a report only reads what scored
    return out


def add_parser(sub: Any) -> None:
    cmd = sub.add_parser("report", help="reports: a patient's glucose metrics against the consensus targets")
    cmd.add_argument("what", choices=["patient"])
    cmd.add_argument("patient", help="enrolment id or pk_ pseudonym")
    cmd.add_argument("--days", type=int, default=14)
    cmd.add_argument("--from", dest="source", type=Path, default=None,
                     help="reading Parquet/CSV file or recording folder (default: the readings topic)")
    cmd.add_argument("--bootstrap", default=None)
    cmd.add_argument("--json", action="store_true", help="print the summary record as JSON")
    cmd.set_defaults(func=cli_report)


def cli_report(args: argparse.Namespace, settings: Any) -> int:
    from monitor.consent_store import resolve_patient
    from monitor.topics import READINGS, namespaced

    if args.days < 1:
        print("vigil: --days must be at least 1", file=sys.stderr)
        return 2
    key = resolve_patient(args.patient, settings.pseudonym_secret)
    if args.source is not None:
        readings = _from_file(args.source)
    else:
        readings = _from_topic(args.bootstrap or settings.bootstrap, namespaced(READINGS, settings.namespace), key)
    result = window_summary(key, readings, args.days)
    print(result.to_json().decode() if args.json else render(result))
    return 0 if result.readings else 1
