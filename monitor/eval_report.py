"""The evaluation report: a Markdown or HTML table with the definitions, a glucose trace and a policy chart (PNG)."""

from __future__ import annotations

import html
import multiprocessing
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import dates as mdates

from monitor import evaluate as ev
from monitor.policies import glucose_points
from monitor.records import Reading

MARKERS = ("v", "o", "s", "^", "D", "P", "X")
date2num: Callable[[Any], Any] = mdates.date2num  # untyped in matplotlib


def pick_patient_day(evaluation: ev.Evaluation) -> tuple[str, date] | None:
    """The patient-day with the most true lows (below 70), so the trace shows something worth looking at."""
    counts = Counter((e.patient_key, e.start.date()) for e in evaluation.episodes if e.threshold == 70.0)
    return counts.most_common(1)[0][0] if counts else None


def plot_trace(readings: list[Reading], evaluation: ev.Evaluation, patient: str, day: date, path: Path) -> Path:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    points = [p for p in glucose_points([r for r in readings if r.patient_key == patient]) if start <= p.at < end]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(date2num([p.at for p in points]), [p.mgdl for p in points], color="black", lw=1.2, label="glucose")
    for level, colour in ((54, "darkred"), (70, "red"), (180, "orange")):
        ax.axhline(level, color=colour, ls="--", lw=0.8)
    for ep in evaluation.episodes:
        if ep.patient_key == patient and ep.threshold == 70.0 and start <= ep.start < end:
            ax.axvspan(float(date2num(ep.start)), float(date2num(ep.end)), color="red", alpha=0.12)
    floor = min(min((p.mgdl for p in points), default=40.0), 40.0)
    lane = 0.0
    for i, (name, alerts) in enumerate(evaluation.alerts.items()):
        mine = [a for a in alerts if a.patient_key == patient and start <= a.at < end]
        lane = floor - 10 * (i + 1)  # one lane per policy under the trace
        ax.scatter(date2num([a.at for a in mine]), [lane] * len(mine), marker=MARKERS[i % len(MARKERS)],
                   s=36, label=f"{name} ({len(mine)})")
    ax.set_ylim(bottom=lane - 8)
    ax.set_title(f"patient {patient[:11]}... on {day.isoformat()}: glucose, true lows < 70 (shaded), alerts")
    ax.set_ylabel("mg/dL")
    ax.legend(loc="upper right", fontsize=8)
    ax.xaxis_date()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_comparison(evaluation: ev.Evaluation, path: Path) -> Path:
    names = list(evaluation.metrics)
    rows = [evaluation.metrics[n] for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.38
    xs = range(len(names))
    left.bar([x - width / 2 for x in xs], [m.sensitivity(70.0) or 0 for m in rows], width, label="< 70")
    left.bar([x + width / 2 for x in xs], [m.sensitivity(54.0) or 0 for m in rows], width, label="< 54")
    left.set_title("sensitivity for true lows")
    left.set_ylim(0, 1.05)
    right.bar([x - width / 2 for x in xs], [m.alerts_per_patient_day or 0 for m in rows], width, label="all alerts")
    right.bar([x + width / 2 for x in xs], [m.false_alerts_per_patient_day or 0 for m in rows], width,
              label="false low alerts")
    right.set_title("alerts per patient-day")
    for ax in (left, right):
        ax.set_xticks(list(xs), names, rotation=20, fontsize=8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _plots(evaluation: ev.Evaluation, readings: list[Reading], out_dir: Path, chosen: tuple[str, date] | None,
           workers: int) -> tuple[Path, Path | None]:
    """The two PNGs; with workers > 1 the trace is drawn in a forked process meanwhile (same code, same bytes)."""
    trace = out_dir / "trace.png"
    if chosen is None or workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        comparison = plot_comparison(evaluation, out_dir / "policy_comparison.png")
        return comparison, plot_trace(readings, evaluation, chosen[0], chosen[1], trace) if chosen else None
    drawer = multiprocessing.get_context("fork").Process(
        target=plot_trace, args=(readings, evaluation, chosen[0], chosen[1], trace), daemon=True)
    drawer.start()
    try:
        comparison = plot_comparison(evaluation, out_dir / "policy_comparison.png")
    finally:
        drawer.join()
    if drawer.exitcode != 0:
        raise RuntimeError(f"drawing {trace} failed in a forked process (exit code {drawer.exitcode})")
    return comparison, trace


def write_report(evaluation: ev.Evaluation, readings: list[Reading], out_dir: Path, *, source: str,
                 fmt: str = "md", patient: str | None = None, day: date | None = None, workers: int = 1) -> Path:
    """Writes report.md or report.html with its two PNGs next to it and returns the report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = (patient, day) if patient and day else pick_patient_day(evaluation)
    comparison, trace = _plots(evaluation, readings, out_dir, chosen, workers)
    rows = [m.row() for m in evaluation.metrics.values()]
    columns = list(rows[0]) if rows else []
    definitions = (ev.__doc__ or "").split("Definitions (printed in every report):", 1)[-1].strip()
    patients = len({r.patient_key for r in readings})
    title = f"vigil policy evaluation of {source}"
    meta = f"{evaluation.readings} readings, {patients} patients, policies: {', '.join(evaluation.metrics)}"
    if fmt == "html":
        table = "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>" + "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(r[c]))}</td>" for c in columns) + "</tr>" for r in rows
        ) + "</table>"
        body = (f"<h1>{html.escape(title)}</h1><p>{html.escape(meta)}</p>{table}"
                f"<h2>Definitions</h2><pre>{html.escape(definitions)}</pre>"
                f'<h2>Policy comparison</h2><img src="{comparison.name}">'
                + (f'<h2>Trace</h2><img src="{trace.name}">' if trace else ""))
        path = out_dir / "report.html"
        path.write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>{body}\n")
        return path
    lines = [f"# {title}", "", meta, "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in columns) + " |" for r in rows]
    lines += ["", "## Definitions", "", definitions, "", "## Policy comparison", "",
              f"![policy comparison]({comparison.name})", ""]
    if trace is not None and chosen is not None:
        lines += ["## Trace", "", f"Patient {chosen[0]} on {chosen[1].isoformat()}.", "", f"![trace]({trace.name})", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
