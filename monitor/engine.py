"""The whole per-patient pipeline as pure functions: de-duplicate, reorder, score, advance episodes, emit."""

from __future__ import annotations

import bisect
import functools
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

import orjson

from models.api import Forecaster
from monitor import dedup, explain, state_codec, summary
from monitor.dedup import DUPLICATE, TOO_OLD
from monitor.dedup import observe as observe_stream
from monitor.episodes import AckMark, Book, Episode, Transition, advance, alert_id_for, episode_id_for
from monitor.epoch import seconds as epoch_seconds
from monitor.findings import LEVEL_RANK, Finding, rank
from monitor.frozen import Frozen, quick_init, replace
from monitor.records import GLUCOSE_KINDS, Ack, AckAction, Alert, AlertState, Reading, ReadingKind, Severity
from monitor.scoring import FAMILIES_OF_KIND, PatientState, clear_of, recovering_families, score_value, usable_value
from monitor.short_id import short as _short_id
from monitor.summary import DayStats
from monitor.summary import add as add_to_day
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


@quick_init
@dataclass(frozen=True, slots=True)
class Buffered(Frozen):
    """A reading inside the re-ordering bound, kept compactly until it settles (what scoring needs, no more)."""

    rid: str
    kind: ReadingKind
    value: float
    t: datetime
    diastolic: float | None = None
    backfill: bool = False  # received more than BACKFILL after it was measured: never a live alert


@quick_init
@dataclass(frozen=True, slots=True)
class Folded(Frozen):
    """Scoring and episode state after folding readings in event-time order."""

    scoring: PatientState = field(default_factory=PatientState)
    book: Book = field(default_factory=Book)


@quick_init
@dataclass(frozen=True, slots=True)
class CatchUp(Frozen):
    first: datetime
    last: datetime
    count: int = 0
    lowest: float | None = None
    highest: float | None = None
    kinds: tuple[str, ...] = ()
    reading_ids: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class MonitorState(Frozen):
    """What the worker keeps per patient in its changelog-backed table (bounded; see bench/).

    Invariant: (live_scoring, live) == the fold of `buffer` (sorted by event time) onto `settled` with the targets
    and forecaster `scored_with` names, so an in-order reading is folded onto the live state alone and only an
    out-of-order one re-folds part of the buffer; other targets or another model re-fold the whole buffer once.
    `trail` (never stored, not compared) caches the fold state after each buffered reading while the state stays
    in memory (offline evaluation), so a settling reading is not scored a second time; None where unknown.
    """

    patient_key: str
    settled: Folded = field(default_factory=Folded)
    buffer: tuple[Buffered, ...] = ()
    live: Book = field(default_factory=Book)  # episodes after the buffer: what acks and the notifier see
    live_scoring: PatientState | None = field(default_factory=PatientState)  # None: unknown (an older state)
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
    scored_with: str = ""  # fingerprint of the targets and forecaster the live state was folded with
    trail: tuple[Folded | None, ...] = field(default=(), compare=False, repr=False,
                                              metadata={"transient": True})


@quick_init
@dataclass(frozen=True, slots=True)
class Step(Frozen):
    """The result of one input: the new state, alert records and any finished daily summary."""

    state: MonitorState
    alerts: tuple[Alert, ...] = ()
    summaries: tuple[summary.Summary, ...] = ()


_CGM: Final = ReadingKind.CGM  # a global: each `ReadingKind.CGM` builds a method-wrapper (dedup.NEW says why)


def initial(patient_key: str) -> MonitorState:
    return MonitorState(patient_key=patient_key)


def default_forecaster() -> Forecaster:
    from models.baseline import AR2

    return AR2()


def _buffered(r: Reading, value: float) -> Buffered:
    return Buffered(r.reading_id, r.kind, value, r.measured_at, r.components.get("diastolic"),
                    r.received_at - r.measured_at > BACKFILL)


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


FAMILY_ORDER: Final = {family: i for i, family in enumerate(LEVEL_RANK)}
_NO_FINDINGS: Final[tuple[Finding, ...]] = ()


def _fold_one(folded: Folded, patient_key: str, b: Buffered, targets: Targets, forecaster: Forecaster | None,
              want_alerts: bool = True) -> tuple[Folded, list[Alert], tuple[Finding, ...]]:
    """Folds one reading: (state after it, its alert records, findings a backfill kept quiet).

    want_alerts=False (a reading settling, whose records were made when it was folded live) builds no records.
    """
    scoring, findings = score_value(folded.scoring, b.kind, b.rid, b.t, b.value, b.diastolic, targets, forecaster)
    book = folded.book
    relevant = FAMILIES_OF_KIND[b.kind]
    if not findings and (not book.open or not any(e.family in relevant for e in book.open)):
        return Folded(scoring, book), [], _NO_FINDINGS  # the common case: nothing found, nothing open
    clear = clear_of(scoring, b.kind, b.value, b.diastolic, targets)
    recovering = recovering_families(scoring)
    quiet = b.backfill
    worst: dict[str, Finding] = {}
    for f in findings:
        if f.family not in worst or rank(f.family, f.level) > rank(f.family, worst[f.family].level):
            worst[f.family] = f
    alerts: list[Alert] = []
    touched = set(worst) | {e.family for e in book.open if e.family in relevant}
    for family in sorted(touched, key=lambda fam: FAMILY_ORDER.get(fam, 99)):
        finding = worst.get(family)
        book, transition, episode = advance(book, patient_key, family, finding, family in clear, b.t,
                                            _resolve_after(family, targets), recovering=family in recovering,
                                            quiet=quiet)
        if episode is None or transition is None or not want_alerts:
            continue
        if transition is Transition.RESOLVE:
            reason, thresholds, rule = _resolve_text(family, b.value, targets)
            alerts.append(explain.resolved(patient_key, episode, b.t, b.rid, reason, thresholds, b.value, rule))
        elif finding is not None:
            state = AlertState.OPEN if transition is Transition.OPEN else AlertState.ESCALATED
            alerts.append(explain.alert_for(patient_key, episode, state, finding))
    return Folded(scoring, book), alerts, findings if quiet else _NO_FINDINGS


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


def _catch_up_alert(patient_key: str, cu: CatchUp) -> Alert:
    return explain.catch_up(patient_key, cu.first, cu.last, cu.count, cu.lowest, cu.highest, cu.kinds,
                            cu.reading_ids or ())


def _flush_catch_up(state: MonitorState) -> tuple[MonitorState, list[Alert]]:
    cu = state.catch_up
    if cu is None:
        return state, []
    return replace(state, catch_up=None), [_catch_up_alert(state.patient_key, cu)]


def _emit(state: MonitorState, alerts: list[Alert]) -> tuple[MonitorState, tuple[Alert, ...]]:
    """Drops records already emitted (a re-fold of the buffer regenerates them), remembers the new ones."""
    if not alerts:
        return state, ()
    out, emitted = [], list(state.emitted)
    for alert in alerts:
        key = _short_id(alert.record_key)
        if key in emitted:
            continue
        emitted.append(key)
        out.append(alert)
    return replace(state, emitted=tuple(emitted[-EMITTED_KEPT:])), tuple(out)


@functools.lru_cache(maxsize=1024)
def _iso_day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _count_day(patient_key: str, current: summary.DayStats | None, b: Buffered
               ) -> tuple[summary.DayStats | None, tuple[summary.Summary, ...]]:
    """Counts a glucose reading into its UTC day; the first reading of a later day emits the finished day.

    Deliberately on event time, not on a wall-clock timer: a replay, a restart from the changelog or a SIGKILL
    mid-stream emits exactly the same summaries (same content, same count), and a day is summarized only when
    its readings are in (a backfill of the morning still counts). The price: a patient whose data stops gets
    the last day's summary when data resumes; silence itself is the no_data alert's job, and
    `vigil report patient` computes any window on demand.
    """
    if b.kind not in GLUCOSE_KINDS:
        return current, ()
    t = b.t if b.t.tzinfo is UTC else b.t.astimezone(UTC)
    day = _iso_day(t.toordinal())
    if current is None or current.day == day:
        return add_to_day(current or DayStats(day), b.value), ()
    if day < current.day:
        return current, ()  # a previous day's late reading: that summary is already out
    return add_to_day(DayStats(day), b.value), (summary.summarize(patient_key, current),)


def _settle_count(buffer: tuple[Buffered, ...], watermark: datetime) -> int:
    """How many of the oldest buffered readings settle: older than the re-ordering bound, or beyond BUFFER_MAX."""
    n = len(buffer)
    cut = watermark - REORDER
    s = max(n - BUFFER_MAX, 0)
    while s < n and buffer[s].t < cut:
        s += 1
    return s


def _refold(settled: Folded, patient_key: str, buffer: tuple[Buffered, ...], settle: int, targets: Targets,
            forecaster: Forecaster | None
            ) -> tuple[Folded, list[Folded | None], list[Alert], dict[str, tuple[Finding, ...]]]:
    """The reference: fold the settling readings onto `settled`, then every buffered one (all records made again;
    _emit drops those already emitted). Returns (new settled, fold state after each remaining reading, records,
    the findings each backfilled reading kept quiet, by reading id)."""
    for b in buffer[:settle]:
        settled = _fold_one(settled, patient_key, b, targets, forecaster, want_alerts=False)[0]
    folded: Folded = settled
    alerts: list[Alert] = []
    states: list[Folded | None] = []
    quiet: dict[str, tuple[Finding, ...]] = {}
    for b in buffer[settle:]:
        folded, new, quiet[b.rid] = _fold_one(folded, patient_key, b, targets, forecaster)
        alerts.extend(new)
        states.append(folded)
    return settled, states, alerts, quiet


def _commutes(b: Buffered, later: tuple[Buffered, ...]) -> bool:
    """Whether folding b after `later` gives the state folding it before them gives: no alert family in common.

    Each kind's rules read and write only their own scoring state and their own families' episodes, and the book
    keeps open episodes in family order; so a reading of another kind inserted before them changes none of their
    records and none of the states after them, and b's own fold sees the same state in either order."""
    families = FAMILIES_OF_KIND[b.kind]
    return all(families.isdisjoint(FAMILIES_OF_KIND[x.kind]) for x in later)


def _fold_in(state: MonitorState, buffer: tuple[Buffered, ...], pos: int, settle: int, targets: Targets,
             forecaster: Forecaster | None
             ) -> tuple[Folded, Sequence[Folded | None], list[Alert], tuple[Finding, ...]]:
    """The same result as _refold() for a reading inserted at `pos`, folding only what its arrival changed.

    The fold states before `pos` are unchanged (known from the trail, or folded again without records when the
    state came from bytes); from `pos` on every reading is folded again. In order (pos is the end) that is the
    new reading alone, onto the live state; so it is for a reading of a kind that shares no alert family with the
    readings after it (_commutes), whose fold states in between are then unknown (None). Records of readings before
    `pos` were made when they were folded.
    """
    old, key = state.buffer, state.patient_key
    trail = state.trail
    if state.live_scoring is not None and len(trail) == len(old) and (
            settle == 0 or (settle <= pos and trail[settle - 1] is not None)) and (
            pos == len(old) or _commutes(buffer[pos], old[pos:])):  # e.g. an oximeter's SpO2 and pulse at one second
        live, made, kept_quiet = _fold_one(Folded(state.live_scoring, state.live), key, buffer[pos], targets,
                                           forecaster)  # in order, or commuting: b alone, settling from the trail
        before = state.settled if settle == 0 else trail[settle - 1]
        assert before is not None
        if pos == len(old):  # in order (building the empty run of unknowns below costs ~2 % of a reading)
            return before, trail[settle:] + (live,), made, kept_quiet  # noqa: RUF005 (a tuple: process keeps it)
        return before, [*trail[settle:pos], *([None] * (len(old) - pos)), live], made, kept_quiet  # unknown: None
    states: list[Folded | None] = list(trail[:pos]) if len(trail) == len(old) else [None] * pos
    live_known = pos == len(old) and state.live_scoring is not None
    missing = pos if pos > 0 and not live_known and states[pos - 1] is None else 0
    if 0 < settle <= pos and states[settle - 1] is None:
        missing = max(missing, settle)
    folded = state.settled
    for i in range(missing):  # unknown (a state read from bytes): fold the unchanged prefix again, no records
        folded = _fold_one(folded, key, buffer[i], targets, forecaster, want_alerts=False)[0]
        states[i] = folded
    start = states[pos - 1] if pos > 0 else state.settled
    if live_known and state.live_scoring is not None:
        start = Folded(state.live_scoring, state.live)
    assert start is not None
    alerts: list[Alert] = []
    quiet: tuple[Finding, ...] = ()
    folded = start
    for i in range(pos, len(buffer)):
        folded, new, suppressed = _fold_one(folded, key, buffer[i], targets, forecaster, want_alerts=i >= settle)
        if i >= settle:
            alerts.extend(new)
            if i == pos:
                quiet = suppressed
        states.append(folded)
    settled = state.settled if settle == 0 else states[settle - 1]
    assert settled is not None
    return settled, states[settle:], alerts, quiet


@functools.lru_cache(maxsize=1024)
def _fingerprint(targets: Targets, model: str) -> str:
    return _short_id(f"{targets!r}\x1f{model}")


_LAST_SCORED_WITH: list[tuple[Targets, Forecaster | None, str]] = []  # the last answer (the same objects repeat)


def _scored_with(targets: Targets, forecaster: Forecaster | None) -> str:
    """Which targets and model a fold used: the buffer is folded again when they change (as it always was)."""
    if _LAST_SCORED_WITH:
        last_targets, last_forecaster, fingerprint = _LAST_SCORED_WITH[0]
        if last_targets is targets and last_forecaster is forecaster:
            return fingerprint
    model = "" if forecaster is None else f"{forecaster.name}\x1f{forecaster.version}"
    fingerprint = _fingerprint(targets, model)
    _LAST_SCORED_WITH[:] = [(targets, forecaster, fingerprint)]
    return fingerprint


def process(state: MonitorState | None, reading: Reading, now: datetime, *, targets: Targets = DEFAULT_TARGETS,
            forecaster: Forecaster | None = None, refold: bool = False) -> Step:
    """Runs one reading through de-duplication, re-ordering, scoring and episodes; deterministic.

    refold=True re-folds the whole re-ordering buffer on every reading (the reference the default path is
    tested against: same records, same state).
    """
    state = state or initial(reading.patient_key)
    sid = _short_id(reading.reading_id)
    # the kind as it is: a StrEnum hashes, compares and formats as its value (no str() copy, no .value property)
    streams, verdict = observe_stream(state.streams, reading.device_id, reading.kind,
                                     epoch_seconds(reading.measured_at)) if sid not in state.seen else ((), None)
    if verdict is None or verdict is DUPLICATE:
        return Step(replace(state, duplicates=state.duplicates + 1))
    seen = state.seen[1 - SEEN_KEPT:] + (sid,)  # noqa: RUF005 (compiled, the starred form builds a list first)
    too_old = verdict is TOO_OLD  # cannot tell whether it was seen: late, never in statistics
    value = usable_value(reading)
    if value is None:
        return Step(replace(state, seen=seen, streams=streams))
    alerts: list[Alert] = []
    cgm_seen_wall, no_data = state.cgm_seen_wall, state.no_data
    if reading.kind is _CGM:
        cgm_seen_wall = max(now, cgm_seen_wall or now)
        if no_data is not None:
            alerts.append(explain.resolved(state.patient_key, no_data, reading.measured_at, reading.reading_id,
                                           "Sensor data is arriving again.", {}, value, "no_data_recovered"))
            no_data = None
    b = _buffered(reading, value)
    day, summaries = _count_day(state.patient_key, state.day, b) if not too_old else (state.day, ())
    if too_old or (state.watermark is not None and b.t < state.watermark - REORDER):
        _, findings = score_value(PatientState(), b.kind, b.rid, b.t, value, b.diastolic, targets, None)
        state = replace(state, seen=seen, streams=streams, cgm_seen_wall=cgm_seen_wall, no_data=no_data, day=day,
                        late=state.late + 1, catch_up=_note_catch_up(state.catch_up, b, findings))
        state, out = _emit(state, alerts)
        return Step(state, out, summaries)
    watermark = max(b.t, state.watermark or b.t)
    old = state.buffer
    if not old or (b.t, b.rid) >= (old[-1].t, old[-1].rid):
        pos = len(old)  # in order: the normal case, and always so for sorted (offline) data
    else:
        pos = bisect.bisect_right([(x.t, x.rid) for x in old], (b.t, b.rid))
    buffer = old + (b,) if pos == len(old) else (*old[:pos], b, *old[pos:])  # noqa: RUF005 (as above)
    settle = _settle_count(buffer, watermark)
    scored_with = _scored_with(targets, forecaster)
    states: Sequence[Folded | None]
    if refold or scored_with != state.scored_with:
        settled, states, folded_alerts, quiet = _refold(state.settled, state.patient_key, buffer, settle, targets,
                                                        forecaster)
        suppressed = quiet.get(b.rid, ())
    else:
        settled, states, folded_alerts, suppressed = _fold_in(state, buffer, pos, settle, targets, forecaster)
    live = states[-1]
    assert live is not None
    alerts.extend(folded_alerts)
    catch_up = state.catch_up
    if b.backfill:
        catch_up = _note_catch_up(catch_up, b, suppressed)
    elif catch_up is not None:
        alerts.append(_catch_up_alert(state.patient_key, catch_up))
        catch_up = None
    # by position, in field order (tests/monitor/test_engine.py holds it; a keyword call builds a dict of 19)
    state = MonitorState(
        state.patient_key, settled, buffer[settle:], live.book, live.scoring, watermark, seen, streams,
        state.duplicates, state.late, state.emitted, state.acks, cgm_seen_wall, no_data, state.no_data_count,
        catch_up, day, scored_with, tuple(states))
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


STATE_FORMAT: Final = 2  # [2, <MonitorState, compact layout>]; a JSON object is the named format (version 1)


def dump_state(state: MonitorState) -> bytes:
    """The table value: compact layout behind a format number (bench/state_cost.py measures its size)."""
    return state_codec.dumps_compact((STATE_FORMAT, state))


def load_state(raw: bytes | None) -> MonitorState | None:
    """Reads a table value of either format; a version-1 state is upgraded (its live scoring is re-folded)."""
    if raw is None:
        return None
    if raw[:1] == b"{":
        return _load_named(raw)
    version, state = state_codec.loads_compact(raw, tuple[int, MonitorState])
    if version != STATE_FORMAT:
        raise state_codec.StateCodecError(f"unknown state format {version}")
    return typing.cast(MonitorState, state)


def _load_named(raw: bytes) -> MonitorState:
    """A state written before format 2: buffered readings carried `received` and `device`, no live scoring."""
    try:
        data = orjson.loads(raw)
        for b in data.get("buffer", ()):
            if "received" in b and "backfill" not in b:
                received, measured = datetime.fromisoformat(b["received"]), datetime.fromisoformat(b["t"])
                b["backfill"] = received - measured > BACKFILL
        state = state_codec.decoder(MonitorState)(data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise state_codec.StateCodecError(f"cannot load MonitorState: {exc}") from exc
    if "live_scoring" not in data:
        state = replace(state, live_scoring=None)  # unknown: the next reading folds the buffer once to get it
    return typing.cast(MonitorState, state)
