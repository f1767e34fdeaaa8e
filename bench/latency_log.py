"""(d)'s delay second by second beside the worker's own log lines, to tell a slow second of the loop's making (a
long turn, a full collection, a busier loop) from one that came from outside it.

Run the bench with `VIGIL_LOOP_STATS=1` (the workers inherit it; `VIGIL_RDKAFKA_STATS=1` adds the slowest fetch
and the records fetched but not yet polled of each second), then:
Usage: python -m bench.latency_log bench/results/bench-<tag>-<time>.json [--logs DIR]
       python -m bench.latency_log --bands bench/results/bench-*.json
A log line stamped at t covers the second before it; the row of second i takes the first line stamped in the two
seconds after second i began, so a row may be off by up to a second.
--bands sorts every worker's seconds by how dear a reading was to score in them against that worker's median, and
says how often each band's p99 missed the goal: whether the misses sit in the worker's slow seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOOP_LINE = re.compile(
    r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] INFO monitor\.worker_loop: (?P<records>\d+) records in "
    r"(?P<txns>\d+) transactions in \d+ s: scoring (?P<scoring>\d+) ms, commits (?P<commits>\d+) ms")
LONGEST_TURN = re.compile(r"longest turn (?P<ms>\d+) ms \((?P<records>\d+) records")
OLDEST = re.compile(r"oldest record of a poll \d+ ms old on average \(max (?P<ms>\d+) ms\)")
COLLECTION = re.compile(r"full garbage collection\(s\), (?P<ms>\d+) ms")
BUSY = re.compile(r"loop busy (?P<pct>\d+) %")
LOOP_THREAD = re.compile(r"loop thread user \d+ ms, kernel (?P<kernel>\d+) ms, (?P<faults>\d+) page faults "
                         r"\(\d+ major\), waited (?P<waited>\d+) ms for its core")
FETCHES = re.compile(
    r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] INFO monitor\.rdkafka_worker: librdkafka consumer .*?"
    r"max (?P<max>[\d.]+) ms.*?; (?P<unpolled>\d+) records fetched and not yet polled")


@dataclass(frozen=True)
class LoopLine:
    """One of the worker loop's log lines (monitor/worker_loop.LoopStats), the parts a slow second is read by."""

    at_unix_s: float
    records: int
    transactions: int
    scoring_ms: int
    commits_ms: int
    oldest_ms: int | None = None
    longest_turn_ms: int | None = None
    longest_turn_records: int | None = None
    collection_ms: int | None = None
    busy_pct: int | None = None
    kernel_ms: int | None = None  # the loop thread's time in the kernel (thirty-first session on)
    page_faults: int | None = None
    core_wait_ms: int | None = None  # ... and runnable, waiting for its core


@dataclass(frozen=True)
class FetchLine:
    """The worker consumer's librdkafka statistics line (VIGIL_RDKAFKA_STATS): its slowest fetch of the interval,
    and the records fetched but not yet polled at its end."""

    at_unix_s: float
    fetch_max_ms: float
    unpolled: int


def _unix_s(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC).timestamp()


def parse_fetch_line(text: str) -> FetchLine | None:
    """The consumer's statistics line, or None (a broker's line with no connection has no maximum: None too)."""
    found = FETCHES.match(text)
    if found is None:
        return None
    return FetchLine(_unix_s(found.group("at")), float(found.group("max")), int(found.group("unpolled")))


def _number(pattern: re.Pattern[str], text: str, group: str) -> int | None:
    found = pattern.search(text)
    return int(found.group(group)) if found else None


def parse_line(text: str) -> LoopLine | None:
    """The loop's line, or None for any other line of the log (the log's clock is UTC)."""
    found = LOOP_LINE.match(text)
    if found is None:
        return None
    return LoopLine(_unix_s(found.group("at")), int(found.group("records")), int(found.group("txns")),
                    int(found.group("scoring")), int(found.group("commits")), _number(OLDEST, text, "ms"),
                    _number(LONGEST_TURN, text, "ms"), _number(LONGEST_TURN, text, "records"),
                    _number(COLLECTION, text, "ms"), _number(BUSY, text, "pct"), _number(LOOP_THREAD, text, "kernel"),
                    _number(LOOP_THREAD, text, "faults"), _number(LOOP_THREAD, text, "waited"))


def loop_lines(text: Iterable[str]) -> list[LoopLine]:
    return [line for line in map(parse_line, text) if line is not None]


def fetch_lines(text: Iterable[str]) -> list[FetchLine]:
    return [line for line in map(parse_fetch_line, text) if line is not None]


@dataclass(frozen=True)
class Second:
    """One second of the feed: the p99 of its alerts, of their leg after the worker's send (None for a result
    without it), and the loop's line that covers it (None where the log has none)."""

    second: int
    p99_ms: float
    after_send_p99_ms: float | None
    line: LoopLine | None
    fetches: FetchLine | None = None


def covers(at_unix_s: float, start_unix_s: float) -> bool:
    """Whether a log line stamped at `at_unix_s` covers the second that began at `start_unix_s`: the first line in
    the two seconds after it (a line covers the second before its stamp)."""
    return start_unix_s < at_unix_s <= start_unix_s + 2


def by_second(p99_by_second_ms: Sequence[float], from_unix_s: float, lines: Sequence[LoopLine],
              after_send_p99_by_second_ms: Sequence[float] = (), fetches: Sequence[FetchLine] = ()) -> list[Second]:
    """Each second of the feed beside the loop line (and the consumer's statistics line) that covers it."""
    rows = []
    for second, p99 in enumerate(p99_by_second_ms):
        start = from_unix_s + second
        line = next((x for x in lines if covers(x.at_unix_s, start)), None)
        fetch = next((x for x in fetches if covers(x.at_unix_s, start)), None)
        after = after_send_p99_by_second_ms[second] if second < len(after_send_p99_by_second_ms) else None
        rows.append(Second(second, p99, after, line, fetch))
    return rows


def describe(row: Second) -> str:
    line = row.line
    text = f"{row.second:3d} s  p99 {row.p99_ms:5.0f} ms"
    if row.after_send_p99_ms is not None:
        text += f" ({row.after_send_p99_ms:4.0f} after the send)"
    if line is not None:
        us = 1000 * line.scoring_ms / max(1, line.records)
        text += (f" | {line.records:6,} records, {line.transactions:3} transactions, scoring {us:4.1f} us a record, "
                 f"oldest {line.oldest_ms if line.oldest_ms is not None else '-':>4} ms, longest turn "
                 f"{line.longest_turn_ms if line.longest_turn_ms is not None else '-':>4} ms "
                 f"({line.longest_turn_records if line.longest_turn_records is not None else '-'} records)")
        if line.busy_pct is not None:
            text += f", busy {line.busy_pct} %"
        if line.collection_ms is not None:
            text += f", full collection {line.collection_ms} ms"
        if line.kernel_ms is not None:
            text += (f", kernel {line.kernel_ms} ms, {line.page_faults} faults, "
                     f"{line.core_wait_ms} ms waiting for the core")
    if row.fetches is not None:
        text += f"; fetch max {row.fetches.fetch_max_ms:.0f} ms, {row.fetches.unpolled} unpolled"
    return text


BAND_EDGES = (1.1, 1.2, 1.3)  # a second's scoring cost a reading, as a multiple of the worker's median
GOAL_MS = 100.0  # issue 9: p99 from reading to alert at half load


@dataclass(frozen=True)
class Band:
    """The seconds whose scoring cost fell in one band: how many, how many had a p99 over the goal, their median
    p99."""

    label: str
    seconds: int
    over_goal: int
    median_p99_ms: float


def cost_ratios(rows: Sequence[Second]) -> list[tuple[float, float]]:
    """(scoring cost a reading / the worker's median, p99) for each second with a loop line that scored records."""
    scored = [(row.line.scoring_ms / row.line.records, row.p99_ms) for row in rows
              if row.line is not None and row.line.records > 0]
    if not scored:
        return []
    median = statistics.median(cost for cost, _ in scored)
    return [(cost / median if median else 1.0, p99) for cost, p99 in scored]


def band_label(ratio: float, edges: Sequence[float] = BAND_EDGES) -> str:
    """A ratio's band, e.g. "< 1.1x", "1.1-1.2x", ">= 1.3x"."""
    if ratio < edges[0]:
        return f"< {edges[0]}x"
    for low, high in itertools.pairwise(edges):
        if ratio < high:
            return f"{low}-{high}x"
    return f">= {edges[-1]}x"


def bands(ratios: Iterable[tuple[float, float]], edges: Sequence[float] = BAND_EDGES) -> list[Band]:
    """The seconds of every worker by band of scoring cost, cheapest band first (empty bands left out)."""
    grouped: dict[str, list[float]] = {}
    for ratio, p99 in ratios:
        grouped.setdefault(band_label(ratio, edges), []).append(p99)
    order = [band_label(edges[0] - 1, edges), *(band_label(edge, edges) for edge in edges)]
    return [Band(label, len(p99s), sum(p99 > GOAL_MS for p99 in p99s), statistics.median(p99s))
            for label in order if (p99s := grouped.get(label))]


def describe_band(band: Band) -> str:
    share = 100 * band.over_goal / band.seconds
    return (f"scoring {band.label:>9} the worker's median: {band.seconds:5,} seconds, p99 over {GOAL_MS:.0f} ms in "
            f"{band.over_goal:4,} ({share:3.0f} %), median p99 {band.median_p99_ms:.0f} ms")


def covering_log(logs: dict[Path, list[LoopLine]], from_unix_s: float) -> Path | None:
    """The worker log that scored the feed's first second (each measured run has its own worker; one that is
    still running beside it scores nothing then)."""
    busiest = {path: max((x.records for x in lines if covers(x.at_unix_s, from_unix_s)), default=0)
               for path, lines in logs.items()}
    path = max(sorted(busiest), key=busiest.__getitem__, default=None)
    return path if path is not None and busiest[path] > 0 else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.latency_log", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, nargs="+", metavar="result",
                    help="a bench result JSON with (d) runs (several with --bands)")
    ap.add_argument("--logs", type=Path, help="the worker logs' folder (default: the one each result names)")
    ap.add_argument("--bands", action="store_true",
                    help="only the seconds of every run by band of scoring cost, with their misses of the goal")
    args = ap.parse_args(argv)
    if len(args.results) > 1 and not args.bands:
        ap.error("several results need --bands (one result's seconds are listed at a time)")
    ratios: list[tuple[float, float]] = []
    used = 0
    for result_path in args.results:
        try:
            result: dict[str, Any] = json.loads(result_path.read_text())
        except (OSError, ValueError) as exc:
            ap.error(f"cannot read {result_path}: {exc}")
        folder = args.logs or Path(result.get("worker_logs", ""))
        if not folder.is_dir():
            if args.bands:  # an old result whose logs are gone: the others still count
                print(f"{result_path.name}: no worker logs at {folder}, left out", file=sys.stderr)
                continue
            ap.error(f"no worker logs at {folder}: give --logs")
        used += 1
        for heading, rows in _runs(result, folder, quiet=args.bands):
            ratios.extend(cost_ratios(rows))
            if not args.bands:
                print(heading)
                for row in rows:
                    print(describe(row))
    if args.bands:
        print(f"{used} result(s) with their logs, {len(ratios):,} seconds with a loop line")
        for band in bands(ratios):
            print(describe_band(band))
    return 0


def _runs(result: dict[str, Any], folder: Path, quiet: bool) -> Iterable[tuple[str, list[Second]]]:
    """Each measured (d) run of a result: its heading and its seconds beside the log of the worker that scored it."""
    texts = {path: path.read_text(errors="replace").splitlines() for path in folder.glob("*.log")}
    logs = {path: loop_lines(text) for path, text in texts.items()}
    for run in result.get("d_latency", []):
        if run.get("rehearsal"):
            continue
        latency = run["results"][0]
        if not latency.get("p99_by_second_ms"):
            if not quiet:
                print(f"{run['variant']}: no p99 by second in this result (bench older than the thirtieth session)")
            continue
        start = latency["windows_from_unix_s"]
        path = covering_log(logs, start)
        heading = (f"{run['variant']}, {run['rate']:,.0f}/s, {latency['isolation']}: p99 {latency['p99_ms']:.0f} ms; "
                   f"log {path.name if path else 'none'}")
        yield heading, by_second(latency["p99_by_second_ms"], start, logs.get(path, []) if path else [],
                                 latency.get("after_send_p99_by_second_ms", ()),
                                 fetch_lines(texts[path]) if path else [])


if __name__ == "__main__":
    sys.exit(main())
