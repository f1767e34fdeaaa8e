"""`vigil replay`: publish a recording or reading file to the readings topic at N x speed, on event time."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from monitor.config import Settings
from monitor.consent import ConsentState, research_cohort
from monitor.pacing import Pacer, merge_by_event_time, parse_speed
from monitor.pseudonym import is_patient_key, patient_key
from monitor.reading_table import load_readings
from monitor.records import Reading, utc
from monitor.topics import READINGS, namespaced


class Publisher(Protocol):
    def send(self, reading: Reading) -> Any: ...
    def flush(self, timeout_s: float | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which readings a replay sends: some patients (pseudonym keys) and an event-time window [start, end)."""

    patients: frozenset[str] | None = None
    start: datetime | None = None
    end: datetime | None = None

    def keeps(self, r: Reading) -> bool:
        if self.patients is not None and r.patient_key not in self.patients:
            return False
        if self.start is not None and r.measured_at < self.start:
            return False
        return self.end is None or r.measured_at < self.end


@dataclass(frozen=True, slots=True)
class ReplayResult:
    sent: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else float("inf")


def schedule(readings: Iterable[Reading], keep: ReplayFilter = ReplayFilter()) -> list[Reading]:
    """The send order: patients interleaved on event time, each patient's file order kept."""
    by_patient: dict[str, list[Reading]] = {}
    for r in readings:
        if keep.keeps(r):
            by_patient.setdefault(r.patient_key, []).append(r)
    return list(merge_by_event_time(by_patient.values(), lambda r: r.measured_at))


def replay(readings: Sequence[Reading], publisher: Publisher, pacer: Pacer,
           progress: Callable[[int], None] | None = None, flush_every: int = 0) -> ReplayResult:
    """Sends each reading, unchanged, when due.

    Every field is kept, received_at too: scoring reads received_at - measured_at to tell a backfill from a live
    reading, so restamping it with the replay's wall time would turn a whole study into one late backfill.
    """
    started = time.perf_counter()
    for index, reading in enumerate(readings, start=1):
        pacer.wait_for(reading.measured_at)
        publisher.send(reading)
        if progress is not None:
            progress(1)
        if flush_every and index % flush_every == 0:
            publisher.flush()
    publisher.flush()
    return ReplayResult(len(readings), time.perf_counter() - started)


def _time_arg(text: str | None) -> datetime | None:
    if text is None:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def patient_filter(values: Sequence[str] | None, secret: bytes) -> frozenset[str] | None:
    """Pseudonym keys are taken as they are; anything else is an enrolment id and is pseudonymized."""
    if not values:
        return None
    return frozenset(v if is_patient_key(v) else patient_key(v, secret) for v in values)


def add_parser(sub: Any) -> None:
    rep = sub.add_parser("replay", help="replay a recording or reading file to the readings topic")
    rep.add_argument("source", type=Path, help="recording folder or reading Parquet file")
    rep.add_argument("--speed", default="max", help="'max' or a factor such as '100x' (default max)")
    rep.add_argument("--to-topic", default=READINGS, help=f"target topic (default {READINGS})")
    rep.add_argument("--namespace", default=None, help="study namespace: study42 gives study42.<topic>")
    rep.add_argument("--patients", nargs="*", default=None, help="pseudonym keys or enrolment ids")
    rep.add_argument("--from", dest="start", default=None, help="event time from (ISO-8601, inclusive)")
    rep.add_argument("--to", dest="end", default=None, help="event time to (ISO-8601, exclusive)")
    rep.add_argument("--bootstrap", default=None)
    rep.add_argument("--consent-db", default=None,
                     help="consent database for study namespaces (default $VIGIL_HOME/consent.sqlite)")
    rep.add_argument("--no-progress", action="store_true")
    rep.set_defaults(func=cli_replay)


def run_replay(source: Path, bootstrap: str, topic: str, speed: float | None, keep: ReplayFilter,
               show_progress: bool = True) -> ReplayResult:
    from tqdm import tqdm

    from device_gateway.publisher import ReadingPublisher

    ordered = schedule(load_readings(source), keep)
    pacer = Pacer(speed, time.monotonic, time.sleep)
    with ReadingPublisher(bootstrap, topic=topic) as publisher, \
            tqdm(total=len(ordered), unit="reading", unit_scale=True, disable=not show_progress,
                 desc=f"replay -> {topic}", file=sys.stderr) as bar:
        return replay(ordered, publisher, pacer, progress=bar.update)


def study_patients(requested: frozenset[str] | None, research_consented: frozenset[str]) -> frozenset[str]:
    """A study namespace gets only research-consented patients (design section 7), whatever was asked for."""
    return research_consented if requested is None else requested & research_consented


def replay_filter(args: argparse.Namespace, settings: Settings, consent_states: Iterable[ConsentState],
                  now: datetime) -> ReplayFilter:
    """What a replay may send: into a study namespace, only patients whose research consent is active now."""
    requested = patient_filter(args.patients, settings.pseudonym_secret)
    if args.namespace or settings.namespace:
        requested = study_patients(requested, research_cohort(consent_states, now))
    return ReplayFilter(requested, _time_arg(args.start), _time_arg(args.end))


def cli_replay(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.consent_store import ConsentStore, default_path

    speed = parse_speed(args.speed)
    namespace = args.namespace or settings.namespace
    topic = namespaced(args.to_topic, namespace)
    states = list(ConsentStore(Path(args.consent_db or default_path(settings))).states()) if namespace else []
    keep = replay_filter(args, settings, states, datetime.now(UTC))
    if namespace:
        print(f"vigil: study namespace '{namespace}': {len(keep.patients or ())} patient(s) with research consent",
              file=sys.stderr)
    result = run_replay(args.source, args.bootstrap or settings.bootstrap, topic, speed, keep,
                        show_progress=not args.no_progress)
    print(f"vigil: replayed {result.sent} reading(s) to {topic} in {result.seconds:.1f} s ({result.rate:,.0f}/s)")
    return 0
