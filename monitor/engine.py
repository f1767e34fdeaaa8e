"""The whole per-patient pipeline as pure functions: de-duplicate, reorder, score, advance episodes, emit."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from models.api import Forecaster
from monitor import dedup, explain, state_codec, summary
from monitor.episodes import AckMark, Book, Episode, Transition, advance, alert_id_for, episode_id_for
from monitor.findings import LEVEL_RANK, Finding, rank
from monitor.records import GLUCOSE_KINDS, Ack, AckAction, Alert, AlertState, Reading, ReadingKind, Severity
from monitor.scoring import PatientState, clear_families, families_of, recovering_families, score, usable_value
from monitor.targets import DEFAULT_TARGETS, Targets

REORDER: Final = timedelta(minutes=10)  # readings up to this much older than the newest are re-ordered exactly
BACKFILL: Final = timedelta(minutes=15)  # received this long after measurement: a backfill, never a live alert
BUFFER_MAX: Final = 12
SEEN_KEPT: Final = 8  # exact recent ids; monitor.dedup catches resends of anything in the last 26 hours
EMITTED_KEPT: Final = 16
ACKS_KEPT: Final = 8
SENSOR_ACTIVE: Final = timedelta(hours=24)  # a CGM silent for longer is "removed", not "missing data"
RATE_RESOLVE: Final = timedelta(minutes=10)
CATCH_UP_IDS: Final = 6

ForecasterFor = Callable[[str], Forecaster | None]


def _short(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


@dataclass(frozen=True, slots=True)
class Buffered:
    """A reading inside the re-ordering bound, kept compactly until it settles."""

    rid: str
    kind: ReadingKind
    value: float
    t: datetime
    received: datetime
    device: str
    diastolic: float | None = None


@dataclass(frozen=True, slots=True)
class Folded:
    """Scoring and episode state after folding readings in event-time order."""

    scoring: PatientState = field(default_factory=PatientState)
    book: Book = field(default_factory=Book)


@dataclass(frozen=True, slots=True)
class CatchUp:
    first: datetime
    last: datetime
    count: int = 0
    lowest: float | None = None
    highest: float | None = None
    kinds: tuple[str, ...] = ()
    reading_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MonitorState:
    """What the worker keeps per patient in its changelog-backed table (bounded; see bench/)."""

    patient_key: str
    settled: Folded = field(default_factory=Folded)
    buffer: tuple[Buffered, ...] = ()
    live: Book = field(default_factory=Book)  # episodes after the buffer: what acks and the notifier see
    watermark: datetime | None = None
    seen: tuple[str, ...] = ()
    streams: tuple[dedup.Stream, ...] = ()  # event times seen per device stream (backfill-proof de-duplication)
    duplicates: int = 0
    late: int = 0
    emitted: tuple[str, ...] = ()
    acks: tuple[AckMark, ...] = ()
    cgm_seen_wall: datetime | None = None  # wall time of the last CGM value: the one wall-clock rule
    no_data: Episode | None = None
    no_data_count: int = 0
    catch_up: CatchUp | None = None
    day: summary.DayStats | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """The result of one input: the new state, alert records and any finished daily summary."""

    state: MonitorState
    alerts: tuple[Alert, ...] = ()
    summaries: tuple[summary.Summary, ...] = ()


def initial(patient_key: str) -> MonitorState:
    return MonitorState(patient_key=patient_key)


def default_forecaster() -> Forecaster:
    from models.baseline import AR2

    return AR2()


def _buffered(r: Reading, value: float) -> Buffered:
    return Buffered(r.reading_id, r.kind, value, r.measured_at, r.received_at, r.device_id,
                    r.components.get("diastolic"))


def _reading(patient_key: str, b: Buffered) -> Reading:
    comps = {} if b.diastolic is None else {"diastolic": b.diastolic}
    return Reading(reading_id=b.rid, patient_key=patient_key, device_id=b.device, kind=b.kind, value=b.value,
                   unit="", measured_at=b.t, received_at=b.received, source="api",  # type: ignore[arg-type]
                   components=comps)


def _is_backfill(b: Buffered) -> bool:
    return b.received - b.t > BACKFILL


def _resolve_after(family: str, targets: Targets) -> timedelta:
    if family in ("low", "high"):
        return timedelta(minutes=targets.resolve_after_min)
    if family in ("fall", "rise"):
        return RATE_RESOLVE
    return timedelta(0)  # vitals are sparse: the next normal reading resolves


def _resolve_text(family: str, value: float, targets: Targets) -> tuple[str, dict[str, float], str]:
    if family == "low":
        return (f"Glucose back to {value:.0f} mg/dL, above {targets.low_resolve_above:.0f} mg/dL for "
                f"{targets.resolve_after_min:g} min.", {"resolve_above_mgdl": targets.low_resolve_above,
                                                         "resolve_after_min": targets.resolve_after_min},
                f"glucose_back_above_{targets.low_resolve_above:g}")
    if family == "high":
        return (f"Glucose back to {value:.0f} mg/dL, below {targets.high_resolve_below:.0f} mg/dL for "
                f"{targets.resolve_after_min:g} min.", {"resolve_below_mgdl": targets.high_resolve_below,
                                                         "resolve_after_min": targets.resolve_after_min},
                f"glucose_back_below_{targets.high_resolve_below:g}")
    if family in ("fall", "rise"):
        return (f"Glucose {value:.0f} mg/dL is no longer changing fast.", {"rate_mgdl_per_min": 1.0},
                "rate_back_below_1_per_min")
    return f"{family.removeprefix('vitals_').replace('_', ' ').capitalize()} back within limits ({value:g}).", {}, \
        f"{family}_normal"


def _fold_one(folded: Folded, patient_key: str, b: Buffered, targets: Targets, forecaster: Forecaster | None
              ) -> tuple[Folded, list[Alert], tuple[Finding, ...]]:
    reading = _reading(patient_key, b)
    scoring, findings = score(folded.scoring, reading, b.t, targets=targets, forecaster=forecaster)
    clear = clear_families(scoring, reading, targets)
    recovering = recovering_families(scoring)
    quiet = _is_backfill(b)
    worst: dict[str, Finding] = {}
    for f in findings:
        if f.family not in worst or rank(f.family, f.level) > rank(f.family, worst[f.family].level):
            worst[f.family] = f
    book, alerts = folded.book, []
    relevant = families_of(reading)
    touched = set(worst) | {e.family for e in book.open if e.family in relevant}
    for family in sorted(touched, key=lambda fam: list(LEVEL_RANK).index(fam) if fam in LEVEL_RANK else 99):
        finding = worst.get(family)
        book, transition, episode = advance(book, patient_key, family, finding, family in clear, b.t,
                                            _resolve_after(family, targets), recovering=family in recovering,
                                            quiet=quiet)
        if episode is None or transition is None:
            continue
        if transition is Transition.RESOLVE:
            reason, thresholds, rule = _resolve_text(family, b.value, targets)
            alerts.append(explain.resolved(patient_key, episode, b.t, b.rid, reason, thresholds, b.value, rule))
        elif finding is not None:
            state = AlertState.OPEN if transition is Transition.OPEN else AlertState.ESCALATED
            alerts.append(explain.alert_for(patient_key, episode, state, finding))
    return Folded(scoring, book), alerts, findings if quiet else ()


def _fold(folded: Folded, patient_key: str, items: tuple[Buffered, ...], targets: Targets,
          forecaster: Forecaster | None) -> tuple[Folded, list[Alert], dict[str, tuple[Finding, ...]]]:
    alerts: list[Alert] = []
    quiet: dict[str, tuple[Finding, ...]] = {}
    for b in items:
        folded, new, suppressed = _fold_one(folded, patient_key, b, targets, forecaster)
        alerts.extend(new)
        quiet[b.rid] = suppressed
    return folded, alerts, quiet


def _note_catch_up(cu: CatchUp | None, b: Buffered, findings: tuple[Finding, ...]) -> CatchUp:
    cu = cu or CatchUp(first=b.t, last=b.t)
    is_glucose = b.kind in GLUCOSE_KINDS
    kinds = tuple(sorted(set(cu.kinds) | {f.kind for f in findings}))
    return CatchUp(
        first=min(cu.first, b.t), last=max(cu.last, b.t), count=cu.count + 1,
        lowest=min(filter(None, (cu.lowest, b.value if is_glucose else None)), default=None),
        highest=max(filter(None, (cu.highest, b.value if is_glucose else None)), default=None),
        kinds=kinds, reading_ids=(cu.reading_ids + tuple(i for f in findings for i in f.reading_ids))[:CATCH_UP_IDS],
    )


def _flush_catch_up(state: MonitorState) -> tuple[MonitorState, list[Alert]]:
    cu = state.catch_up
    if cu is None:
        return state, []
    ids = cu.reading_ids or ()
    alert = explain.catch_up(state.patient_key, cu.first, cu.last, cu.count, cu.lowest, cu.highest, cu.kinds, ids)
    return replace(state, catch_up=None), [alert]


def _emit(state: MonitorState, alerts: list[Alert]) -> tuple[MonitorState, tuple[Alert, ...]]:
    """Drops records already emitted (a re-fold of the buffer regenerates them), remembers the new ones."""
    out, emitted = [], list(state.emitted)
    for alert in alerts:
        key = _short(alert.record_key)
        if key in emitted:
            continue
        emitted.append(key)
        out.append(alert)
    return replace(state, emitted=tuple(emitted[-EMITTED_KEPT:])), tuple(out)


def _count_day(state: MonitorState, b: Buffered) -> tuple[MonitorState, tuple[summary.Summary, ...]]:
    """Counts a glucose reading into its UTC day; the first reading of a later day emits the finished day.

    Deliberately on event time, not on a wall-clock timer: a replay, a restart from the changelog or a SIGKILL
    mid-stream emits exactly the same summaries (same content, same count), and a day is summarized only when
    its readings are in (a backfill of the morning still counts). The price: a patient whose data stops gets
    the last day's summary when data resumes; silence itself is the no_data alert's job, and
    `vigil report patient` computes any window on demand.
    """
    if b.kind not in GLUCOSE_KINDS:
        return state, ()
    day = b.t.astimezone(UTC).date().isoformat()
    current = state.day
    if current is None or current.day == day:
        return replace(state, day=summary.add(current or summary.DayStats(day), b.value)), ()
    if day < current.day:
        return state, ()  # a previous day's late reading: that summary is already out
    finished = summary.summarize(state.patient_key, current)
    return replace(state, day=summary.add(summary.DayStats(day), b.value)), (finished,)


def process(state: MonitorState | None, reading: Reading, now: datetime, *, targets: Targets = DEFAULT_TARGETS,
            forecaster: Forecaster | None = None) -> Step:
    """Runs one reading through de-duplication, re-ordering, scoring and episodes; deterministic."""
    state = state or initial(reading.patient_key)
    sid = _short(reading.reading_id)
    streams, verdict = dedup.observe(state.streams, reading.device_id, reading.kind.value,
                                     int(reading.measured_at.timestamp())) if sid not in state.seen else ((), None)
    if verdict is None or verdict is dedup.Verdict.DUPLICATE:
        return Step(replace(state, duplicates=state.duplicates + 1))
    state = replace(state, seen=(*state.seen, sid)[-SEEN_KEPT:], streams=streams)
    too_old = verdict is dedup.Verdict.TOO_OLD  # cannot tell whether it was seen: late, never in statistics
    value = usable_value(reading)
    alerts: list[Alert] = []
    if value is None:
        return Step(state)
    if reading.kind is ReadingKind.CGM:
        state = replace(state, cgm_seen_wall=max(now, state.cgm_seen_wall or now))
        if state.no_data is not None:
            ep = state.no_data
            alerts.append(explain.resolved(state.patient_key, ep, reading.measured_at, reading.reading_id,
                                           "Sensor data is arriving again.", {}, value, "no_data_recovered"))
            state = replace(state, no_data=None)
    b = _buffered(reading, value)
    state, summaries = _count_day(state, b) if not too_old else (state, ())
    if too_old or (state.watermark is not None and b.t < state.watermark - REORDER):
        _, findings = score(PatientState(), reading, b.t, targets=targets)
        state = replace(state, late=state.late + 1, catch_up=_note_catch_up(state.catch_up, b, findings))
        state, out = _emit(state, alerts)
        return Step(state, out, summaries)
    watermark = max(b.t, state.watermark or b.t)
    buffer = tuple(sorted((*state.buffer, b), key=lambda x: (x.t, x.rid)))
    settle = tuple(x for i, x in enumerate(buffer) if x.t < watermark - REORDER or i < len(buffer) - BUFFER_MAX)
    buffer = buffer[len(settle):]
    settled, _, _ = _fold(state.settled, state.patient_key, settle, targets, forecaster)
    live, folded_alerts, quiet = _fold(settled, state.patient_key, buffer, targets, forecaster)
    state = replace(state, settled=settled, buffer=buffer, live=live.book, watermark=watermark)
    alerts.extend(folded_alerts)
    if _is_backfill(b):
        state = replace(state, catch_up=_note_catch_up(state.catch_up, b, quiet.get(b.rid, ())))
    else:
        state, flushed = _flush_catch_up(state)
        alerts.extend(flushed)
    state, out = _emit(state, alerts)
    return Step(state, out, summaries)


def process_reading(state: MonitorState | None, reading: Reading, now: datetime, *,
                    targets: Targets = DEFAULT_TARGETS, forecaster: Forecaster | None = None
                    ) -> tuple[MonitorState, list[Alert]]:
    """Compatibility form of process(): (state, alerts)."""
    step = process(state, reading, now, targets=targets, forecaster=forecaster)
    return step.state, list(step.alerts)


def process_ack(state: MonitorState | None, ack: Ack) -> Step:
    """Applies an acknowledgement or snooze to the episode whose current alert it names (per alert)."""
    if state is None:
        return Step(initial(ack.patient_key))
    episodes = [*state.live.open, *([state.no_data] if state.no_data else [])]
    episode = next((e for e in episodes
                    if alert_id_for(state.patient_key, e.episode_id, e.level) == ack.alert_id), None)
    if episode is None or any(m.alert_id == ack.alert_id and m.action is AckAction.ACK for m in state.acks):
        return Step(state)  # unknown, superseded by an escalation, resolved, or already acknowledged
    until = None if ack.snooze_minutes is None else ack.at + timedelta(minutes=ack.snooze_minutes)
    mark = AckMark(ack.alert_id, ack.action, ack.at, until)
    state = replace(state, acks=(*state.acks, mark)[-ACKS_KEPT:])
    if ack.action is AckAction.SNOOZE:
        return Step(state)  # the notifier honours snoozes; the clinical state does not change
    record = explain.acknowledged(state.patient_key, episode, ack.at, ack.responder_ref, ack.channel)
    state, out = _emit(state, [record])
    return Step(state, out)


def tick(state: MonitorState, now: datetime, targets: Targets = DEFAULT_TARGETS) -> Step:
    """Wall-clock check (the faust timer): an active CGM silent for no_data_min opens a no_data episode;
    a pending catch-up summary older than two minutes is flushed."""
    alerts: list[Alert] = []
    seen = state.cgm_seen_wall
    silent = None if seen is None else now - seen
    if (silent is not None and state.no_data is None and timedelta(minutes=targets.no_data_min) <= silent
            <= SENSOR_ACTIVE):
        number = state.no_data_count + 1
        ep = Episode("no_data", "no_data", "no_data", Severity.WARNING,
                     episode_id_for(state.patient_key, "no_data", number), now, ())
        finding = Finding(family="no_data", level="no_data", kind="no_data", severity=Severity.WARNING,
                          rule=f"no_cgm_data_{targets.no_data_min:g}_min",
                          reason=f"No glucose data for {silent.total_seconds() / 60:.0f} min from an active sensor.",
                          reading_ids=(), measured_at=now, value=None,
                          thresholds=(("no_data_min", targets.no_data_min),),
                          values=(("silent_min", round(silent.total_seconds() / 60, 1)),))
        state = replace(state, no_data=ep, no_data_count=number)
        alerts.append(explain.alert_for(state.patient_key, ep, AlertState.OPEN, finding))
    if state.catch_up is not None and seen is not None and now - seen >= timedelta(minutes=2):
        state, flushed = _flush_catch_up(state)
        alerts.extend(flushed)
    state, out = _emit(state, alerts)
    return Step(state, out)


def dump_state(state: MonitorState) -> bytes:
    return state_codec.dumps(state)


def load_state(raw: bytes | None) -> MonitorState | None:
    return None if raw is None else state_codec.loads(raw, MonitorState)
