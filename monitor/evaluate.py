"""Offline evaluation without a broker: run policies on a reading table and measure them the same way every time.

Definitions (printed in every report):
- A true low episode below T is a run of consecutive glucose readings < T, broken by a reading >= T or a gap over
  15 minutes, lasting at least 15 minutes from its first to its last reading below T. It starts at its first reading
  below T and ends at the first reading back at or above T (or its last reading below T).
- A low-side alert detects an episode when it falls in [start - 60 min, end]. Sensitivity = detected / episodes.
- Lead time = episode start - first detecting alert, in minutes (positive: the alert came before the low).
- Alerts per true episode = low-side alerts inside some < 70 episode window / number of < 70 episodes.
- False alerts = low-side alerts outside every < 70 episode window. Patient-days = distinct (patient, UTC date).
- Time to acknowledge = first ack of an alert id - its first alert record, when acks are in the data.
"""

from __future__ import annotations

import math
import multiprocessing
import statistics
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from monitor.policies import POLICIES, Point, Policy, PolicyAlert, glucose_points, prepare_policies, vigil_default
from monitor.records import Ack, Reading

MIN_EPISODE: Final = timedelta(minutes=15)
MAX_GAP: Final = timedelta(minutes=15)
LEAD_WINDOW: Final = timedelta(minutes=60)
THRESHOLDS: Final = (70.0, 54.0)


@dataclass(frozen=True, slots=True)
class Episode:
    patient_key: str
    threshold: float
    start: datetime
    end: datetime
    nadir_mgdl: float


def true_episodes(patient_key: str, points: Sequence[Point], threshold: float,
                  min_duration: timedelta = MIN_EPISODE, max_gap: timedelta = MAX_GAP) -> list[Episode]:
    """Lows below threshold that lasted at least min_duration (see the module docstring)."""
    episodes: list[Episode] = []
    run: list[Point] = []

    def close(end: datetime | None) -> None:
        if run and run[-1].at - run[0].at >= min_duration:
            episodes.append(Episode(patient_key, threshold, run[0].at, end or run[-1].at, min(p.mgdl for p in run)))
        run.clear()

    for p in points:
        if run and p.at - run[-1].at > max_gap:
            close(None)
        if p.mgdl < threshold:
            run.append(p)
        elif run:
            close(p.at)
    close(None)
    return episodes


@dataclass
class PolicyMetrics:
    """One policy's numbers over a whole data set."""

    policy: str
    alerts: int = 0
    patient_days: int = 0
    episodes: dict[float, int] = field(default_factory=dict)
    detected: dict[float, int] = field(default_factory=dict)
    lead_minutes: dict[float, list[float]] = field(default_factory=dict)
    low_alerts_in_episodes: int = 0
    false_low_alerts: int = 0
    ack_minutes: list[float] = field(default_factory=list)

    def sensitivity(self, threshold: float) -> float | None:
        n = self.episodes.get(threshold, 0)
        return self.detected.get(threshold, 0) / n if n else None

    def median_lead(self, threshold: float) -> float | None:
        leads = self.lead_minutes.get(threshold, [])
        return statistics.median(leads) if leads else None

    @property
    def alerts_per_patient_day(self) -> float | None:
        return self.alerts / self.patient_days if self.patient_days else None

    @property
    def false_alerts_per_patient_day(self) -> float | None:
        return self.false_low_alerts / self.patient_days if self.patient_days else None

    @property
    def alerts_per_episode(self) -> float | None:
        n = self.episodes.get(70.0, 0)
        return self.low_alerts_in_episodes / n if n else None

    @property
    def median_ack_minutes(self) -> float | None:
        return statistics.median(self.ack_minutes) if self.ack_minutes else None

    def row(self) -> dict[str, float | int | str | None]:
        return {
            "policy": self.policy, "alerts": self.alerts, "alerts_per_patient_day": self.alerts_per_patient_day,
            "false_alerts_per_patient_day": self.false_alerts_per_patient_day,
            "episodes_lt70": self.episodes.get(70.0, 0), "sensitivity_lt70": self.sensitivity(70.0),
            "median_lead_min_lt70": self.median_lead(70.0),
            "episodes_lt54": self.episodes.get(54.0, 0), "sensitivity_lt54": self.sensitivity(54.0),
            "median_lead_min_lt54": self.median_lead(54.0),
            "alerts_per_true_episode": self.alerts_per_episode, "median_ack_min": self.median_ack_minutes,
        }


def _in_window(alert: PolicyAlert, ep: Episode) -> bool:
    return ep.start - LEAD_WINDOW <= alert.at <= ep.end


def score_patient(metrics: PolicyMetrics, alerts: Sequence[PolicyAlert],
                  episodes: Mapping[float, Sequence[Episode]]) -> None:
    """Adds one patient's alerts and true episodes to a policy's running metrics."""
    metrics.alerts += len(alerts)
    lows = sorted((a for a in alerts if a.side == "low"), key=lambda a: a.at)
    for threshold, eps in episodes.items():
        metrics.episodes[threshold] = metrics.episodes.get(threshold, 0) + len(eps)
        for ep in eps:
            first = next((a for a in lows if _in_window(a, ep)), None)
            if first is not None:
                metrics.detected[threshold] = metrics.detected.get(threshold, 0) + 1
                metrics.lead_minutes.setdefault(threshold, []).append((ep.start - first.at).total_seconds() / 60)
    reference = episodes.get(70.0, ())
    for a in lows:
        if any(_in_window(a, ep) for ep in reference):
            metrics.low_alerts_in_episodes += 1
        else:
            metrics.false_low_alerts += 1


def ack_delays(alerts: Iterable[PolicyAlert], acks: Iterable[Ack]) -> list[float]:
    """Minutes from each alert id's first record to its first ack."""
    first_alert: dict[str, datetime] = {}
    for a in alerts:
        if a.alert_id is not None and (a.alert_id not in first_alert or a.at < first_alert[a.alert_id]):
            first_alert[a.alert_id] = a.at
    first_ack: dict[str, datetime] = {}
    for ack in acks:
        if ack.alert_id not in first_ack or ack.at < first_ack[ack.alert_id]:
            first_ack[ack.alert_id] = ack.at
    return [(first_ack[i] - at).total_seconds() / 60 for i, at in first_alert.items() if i in first_ack]


def by_patient(readings: Iterable[Reading]) -> dict[str, list[Reading]]:
    """Groups readings per patient in their given order (the order a worker would see them)."""
    groups: dict[str, list[Reading]] = {}
    for r in readings:
        groups.setdefault(r.patient_key, []).append(r)
    return groups


@dataclass
class Evaluation:
    metrics: dict[str, PolicyMetrics]
    alerts: dict[str, list[PolicyAlert]]
    episodes: list[Episode]
    readings: int


PatientResult = tuple[dict[float, list[Episode]], dict[str, list[PolicyAlert]]]


def _patient_result(pkey: str, rs: Sequence[Reading], policy_names: Sequence[str],
                    policies: Mapping[str, Policy]) -> PatientResult:
    """One patient's true episodes and every policy's alerts (patients are independent of each other)."""
    points = sorted(glucose_points(rs), key=lambda p: p.at)
    episodes = {t: true_episodes(pkey, points, t) for t in THRESHOLDS}
    return episodes, {name: policies[name](pkey, rs) for name in policy_names}


# What forked evaluation workers inherit (set just before the pool starts, so no reading is pickled to them).
_JOB: list[tuple[list[tuple[str, list[Reading]]], Sequence[str], Mapping[str, Policy]]] = []


def _run_chunk(indices: list[int]) -> list[tuple[int, PatientResult]]:
    items, names, policies = _JOB[0]
    return [(i, _patient_result(*items[i], names, policies)) for i in indices]


def _patient_results(groups: dict[str, list[Reading]], policy_names: Sequence[str],
                     policies: Mapping[str, Policy], workers: int) -> list[PatientResult]:
    """Per patient, in the groups' order; with workers > 1 the engine policy runs in forked processes while the
    parent runs the baseline policies (200k-1M readings/s: forking would cost them more than it saves)."""
    items = list(groups.items())
    heavy = [name for name in policy_names if policies[name] is vigil_default]
    if (workers <= 1 or len(items) < 2 or not heavy
            or "fork" not in multiprocessing.get_all_start_methods()):
        return [_patient_result(pkey, rs, policy_names, policies) for pkey, rs in items]
    prepare_policies()  # load the model once in the parent: the workers inherit it
    by_size = sorted(range(len(items)), key=lambda i: -len(items[i][1]))
    chunks: list[list[int]] = [[] for _ in range(min(len(items), 4 * workers))]
    for n, i in enumerate(by_size):  # largest first, round robin: balanced chunks
        chunks[n % len(chunks)].append(i)
    results: list[PatientResult | None] = [None] * len(items)
    light = [name for name in policy_names if name not in heavy]
    _JOB[:] = [(items, heavy, policies)]
    try:
        with multiprocessing.get_context("fork").Pool(min(workers, len(chunks))) as pool:
            pending = pool.map_async(_run_chunk, chunks)
            baseline = [{name: policies[name](pkey, rs) for name in light} for pkey, rs in items]
            for done in pending.get():
                for i, (episodes, alerts_of) in done:
                    results[i] = (episodes, {**alerts_of, **baseline[i]})
    finally:
        _JOB.clear()
    assert all(r is not None for r in results)
    return typing.cast(list[PatientResult], results)


def evaluate(readings: Sequence[Reading], policy_names: Sequence[str], acks: Sequence[Ack] = (),
             policies: Mapping[str, Policy] = POLICIES, workers: int = 1) -> Evaluation:
    """Runs each policy on each patient and measures it against the true episodes of the same data.

    workers > 1 runs patients in that many forked processes; results are merged in patient order, so the
    evaluation is identical to workers=1.
    """
    unknown = [p for p in policy_names if p not in policies]
    if unknown:
        raise KeyError(f"unknown policy {', '.join(unknown)} (known: {', '.join(policies)})")
    groups = by_patient(readings)
    days = len({(r.patient_key, r.measured_at.date()) for r in readings})
    metrics = {name: PolicyMetrics(name, patient_days=days) for name in policy_names}
    all_alerts: dict[str, list[PolicyAlert]] = {name: [] for name in policy_names}
    all_episodes: list[Episode] = []
    for episodes, alerts_of in _patient_results(groups, policy_names, policies, workers):
        all_episodes.extend(e for eps in episodes.values() for e in eps)
        for name in policy_names:
            alerts = alerts_of[name]
            score_patient(metrics[name], alerts, episodes)
            all_alerts[name].extend(alerts)
    for name in policy_names:
        metrics[name].ack_minutes = ack_delays(all_alerts[name], acks)
    return Evaluation(metrics, all_alerts, all_episodes, len(readings))


def _missing(value: object) -> bool:
    """pandas' empty cells (NaN, NaT, NA) are None in the contract; a NaN would pass as a true value."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ in (
        "NaTType", "NAType")


def readings_from_frame(frame: Any) -> list[Reading]:
    """A pandas DataFrame with the Reading contract's columns to Readings (the evaluation's input)."""
    from monitor.reading_table import row_to_reading

    columns = {c: [None if _missing(v) else v for v in frame[c].tolist()] for c in frame.columns}
    for name in ("measured_at", "received_at"):
        if name in frame.columns:
            columns[name] = [None if t is None else t.to_pydatetime() for t in columns[name]]
    names = list(columns)
    return [row_to_reading(dict(zip(names, values, strict=True))) for values in zip(*columns.values(), strict=True)]


def evaluate_frame(frame: Any, policy_names: Sequence[str], acks: Sequence[Ack] = ()) -> Evaluation:
    """The same policies and engine straight on a DataFrame."""
    return evaluate(readings_from_frame(frame), policy_names, acks)


def load_acks(path: Path) -> list[Ack]:
    """Acks from a recording folder (acks topic) or a Parquet file with a `value` column of Ack JSON."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from monitor.records import from_json

    files = sorted((path / "acks").glob("day=*/part-*.parquet")) if path.is_dir() else [path]
    if not files:
        return []
    table = pa.concat_tables([pq.read_table(f, columns=["value"]) for f in files])
    return [from_json(v, Ack) for v in table.column("value").to_pylist()]


def add_parser(sub: Any) -> None:
    cmd = sub.add_parser("evaluate", help="evaluate alert policies offline on a recording or reading file")
    cmd.add_argument("source", type=Path, help="recording folder or reading Parquet file")
    cmd.add_argument("--policy", action="append", dest="policies", choices=list(POLICIES),
                     help="repeatable; default: all policies")
    cmd.add_argument("--out", type=Path, default=Path("reports/evaluation"), help="report folder")
    cmd.add_argument("--format", choices=["md", "html"], default="md")
    cmd.add_argument("--acks", type=Path, default=None, help="acks (recording folder or Parquet) for time to ack")
    cmd.add_argument("--patient", default=None, help="pseudonym key for the trace plot (default: most lows)")
    cmd.add_argument("--day", default=None, help="UTC date for the trace plot, YYYY-MM-DD")
    cmd.add_argument("--workers", type=int, default=1,
                     help="processes that score patients in parallel (same results; default 1)")
    cmd.set_defaults(func=cli_evaluate)


def cli_evaluate(args: Any, settings: Any) -> int:
    import gc
    import time

    from monitor.eval_report import write_report

    # The imported modules and then the readings live until the command ends, so the cyclic collector need not scan
    # them on every full collection (~0.2 s CPU of a 20k-reading run): frozen for the command, thawed afterwards.
    thaw = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        started = time.perf_counter()
        evaluation, readings, names = _evaluate_source(args)
        seconds = time.perf_counter() - started
        path = write_report(evaluation, readings, args.out, source=str(args.source), fmt=args.format,
                            patient=args.patient, day=_date(args.day), workers=getattr(args, "workers", 1))
    finally:
        if thaw:
            gc.unfreeze()
    for m in evaluation.metrics.values():
        row = m.row()
        print("  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    print(f"vigil: evaluated {len(readings)} readings x {len(names)} policies in {seconds:.2f} s; report {path}")
    return 0


def _evaluate_source(args: Any) -> tuple[Evaluation, list[Reading], list[str]]:
    import gc

    from monitor.reading_table import read_reading_table, table_to_readings

    readings = table_to_readings(read_reading_table(args.source))  # column by column, no DataFrame in between
    gc.freeze()
    acks: list[Ack] = []
    if args.acks is not None:
        acks = load_acks(args.acks)
    elif args.source.is_dir():
        acks = load_acks(args.source)
    names = args.policies or list(POLICIES)
    return evaluate(readings, names, acks, workers=getattr(args, "workers", 1)), readings, names


def _date(text: str | None) -> Any:
    from datetime import date

    return date.fromisoformat(text) if text else None
