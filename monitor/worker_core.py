"""What the batch worker does with one partition's input records, free of Kafka: parse, gate, score, and name
the outputs and the changed table values, so a transaction can carry them together with the input offsets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from models.api import Forecaster
from monitor import engine, topics
from monitor.engine import process as process_reading
from monitor.frozen import Frozen, quick_init
from monitor.records import Ack, DeadLetter, Reading, RecordError, from_json, to_json
from monitor.state_cache import StateCache
from monitor.targets import DEFAULT_TARGETS, PatientConfig, Targets

Clock = Callable[[], datetime]
ForecasterFor = Callable[[str], Forecaster | None]
ConsentCheck = Callable[[Reading, datetime], str | None]  # None, or the reason the reading may not be scored
Monitored = Callable[[str, datetime], bool]  # whether a patient's monitoring consent holds now


def utc_now() -> datetime:
    """The workers' wall clock (tests inject monitor.testing.FakeClock instead)."""
    return datetime.now(UTC)

ALERTS: Final = "alerts"
SUMMARIES: Final = "summaries"
DEADLETTER: Final = "deadletter"
STATE: Final = "state"  # the patient-state changelog
CONFIG: Final = "config"  # the patient-config changelog
DEADLETTER_KEY: Final = b"monitor"


@quick_init
@dataclass(frozen=True, slots=True)
class Out(Frozen):
    """One record to write inside the input's transaction: a logical topic (the I/O module names it), key, value;
    a state record also names the last readings offset of its partition that the state holds (`through`)."""

    topic: str
    key: bytes
    value: bytes
    through: int | None = None


@dataclass(frozen=True, slots=True)
class StateWrites:
    """When a changed patient state is written to the changelog.

    By default every change, at the next commit (the batch and faust runtimes). Deferred (all three limits
    positive): a state changed only by readings waits until `seconds` have passed or `records` more readings of
    its partition were scored since its first unwritten one, and at most `patients` states of a partition wait;
    the oldest goes first. A state changed by an ack, a tick or new targets is written at the next commit, since
    only readings are read again: after a failover the new owner scores the readings from the partition's
    oldest unwritten one (`PartitionTables.replay_from`) into the states that do not hold them yet.
    """

    seconds: float = 0.0
    records: int = 0
    patients: int = 0

    @property
    def deferred(self) -> bool:
        return self.seconds > 0 and self.records > 0 and self.patients > 0


EVERY_CHANGE: Final = StateWrites()


@quick_init
@dataclass(frozen=True, slots=True)
class Origin(Frozen):
    """Where an input record came from, for its dead letter."""

    topic: str
    partition: int
    offset: int


Held = Mapping[str, int | None]
"""Per patient, the last readings offset its restored state holds (a state record's `through`); None for a state
written by a writer of every change, which holds every reading before the committed offset. Only a replay asks."""


def holds(held: Held, key: str, offset: int) -> bool:
    """Whether the restored state of `key` already holds the reading at `offset`."""
    if key not in held:
        return False
    through = held[key]
    return through is None or offset <= through


@dataclass(slots=True)  # slots: its fields are read several times a reading
class PartitionTables:
    """One partition's patients: table bytes as last committed, states changed since (written or waiting, as
    `writes` says), parsed targets."""

    states: StateCache
    writes: StateWrites = EVERY_CHANGE
    raw: dict[str, bytes] = field(default_factory=dict)
    changed: dict[str, engine.MonitorState] = field(default_factory=dict)
    config_raw: dict[str, bytes] = field(default_factory=dict)
    config_changed: dict[str, bytes] = field(default_factory=dict)
    head: int = -1  # offset of the last readings record scored (or committed before a restore)
    waiting: dict[str, tuple[int, float]] = field(default_factory=dict)  # key: (first unwritten offset, when)
    _due: dict[str, None] = field(default_factory=dict)  # changed by more than readings: written at the next flush
    _targets: dict[str, Targets] = field(default_factory=dict)

    def restore(self, topic: str, key: str, value: bytes | None) -> None:
        """Applies one changelog record read back after a (re)assignment; None is a tombstone."""
        table = self.raw if topic == STATE else self.config_raw
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
        self._targets.pop(key, None)

    def changed_by_reading(self, key: str, state: engine.MonitorState, offset: int, at: float) -> None:
        """Notes a state a reading changed: it may wait (see StateWrites) unless something else changed it too."""
        self.changed[key] = state
        waiting = self.waiting
        if key not in waiting and self.writes.deferred and key not in self._due:
            waiting[key] = (offset, at)

    def changed_by_other(self, key: str, state: engine.MonitorState) -> None:
        """Notes a state an ack or a tick changed: written at the next flush, whatever waited before."""
        self.changed[key] = state
        self._write_soon(key)

    def _write_soon(self, key: str) -> None:
        if key in self.waiting or key in self.changed:
            self.waiting.pop(key, None)
            self._due[key] = None

    def replay_from(self) -> int | None:
        """The oldest readings offset some waiting state does not hold: a new owner scores from there again."""
        return next(iter(self.waiting.values()))[0] if self.waiting else None

    def state(self, key: str) -> engine.MonitorState | None:
        changed = self.changed.get(key)
        return changed if changed is not None else self.states.load(key, self.raw.get(key))

    def targets(self, key: str) -> Targets:
        targets = self._targets.get(key)
        if targets is None:
            raw = self.config_changed.get(key) or self.config_raw.get(key)
            targets = DEFAULT_TARGETS if raw is None else PatientConfig.from_json(raw).targets
            self._targets[key] = targets
        return targets

    def set_config(self, key: str, value: bytes) -> None:
        """New targets: a waiting state is written first, as it was scored with the old ones."""
        self.config_changed[key] = value
        self._targets.pop(key, None)
        self._write_soon(key)

    def patients(self) -> list[str]:
        return list(self.raw.keys() | self.changed.keys())

    def flush(self, now: float = 0.0, everything: bool = False, keep: Callable[[str], bool] | None = None,
              ) -> list[Out]:
        """The changelog records of the states due (see StateWrites; `everything`: all changed ones) and of changed
        targets, now taken as committed: call it last, right before the transaction commits. An unchanged value
        is not rewritten. `now` is the wall clock in epoch seconds. A due state whose patient `keep` refuses (no
        monitoring consent any more: withdrawn or erased) is dropped, never written: an erasure's tombstone stays
        the patient's last changelog record."""
        if everything or not self.writes.deferred:
            due = list(self.changed)
        else:  # deferred: what changed is waiting or due, so the thousands waiting are not scanned at each commit
            due = [key for key in self._due if key in self.changed]
            due.extend(self._overdue(now))
        out: list[Out] = []
        for key in due:
            state = self.changed.pop(key)
            self.waiting.pop(key, None)
            if keep is not None and not keep(key):
                self.states.forget(key)
                continue
            value = engine.dump_state(state)
            if value != self.raw.get(key):
                self.raw[key] = value
                out.append(Out(STATE, topics.changelog_key(key), value, self.head))
            self.states.remember(key, value, state)
        for key, value in self.config_changed.items():
            if value != self.config_raw.get(key):
                self.config_raw[key] = value
                out.append(Out(CONFIG, topics.changelog_key(key), value))
        self._due.clear()
        self.config_changed.clear()
        return out

    def _overdue(self, now: float) -> list[str]:
        """Waiting states past a limit, oldest first (the order they began to wait in)."""
        if not self.waiting:
            return []
        excess = len(self.waiting) - self.writes.patients
        oldest_offset, oldest_time = self.head - self.writes.records, now - self.writes.seconds
        overdue: list[str] = []
        for key, (offset, at) in self.waiting.items():
            if len(overdue) < excess or offset <= oldest_offset or at <= oldest_time:
                overdue.append(key)
            else:
                break
        return overdue


@dataclass(slots=True)
class WorkerCore:
    """The agents' logic (monitor/agents.py does the same for faust), one input record at a time."""

    clock: Clock
    forecaster_for: ForecasterFor
    consent: ConsentCheck | None = None
    monitored: Monitored | None = None  # None: the consent gate is off

    def keeps(self, now: datetime) -> Callable[[str], bool] | None:
        """PartitionTables.flush's `keep`: only patients under monitoring consent get their state written."""
        monitored = self.monitored
        return None if monitored is None else (lambda key: monitored(key, now))

    def dead_letter(self, raw: bytes, reason: str, origin: Origin | None, stage: str) -> Out:
        letter = DeadLetter.of(raw, source="monitor", stage=stage, reason=reason, at=self.clock(),
                               topic=origin.topic if origin else None,
                               partition=origin.partition if origin else None,
                               offset=origin.offset if origin else None)
        return Out(DEADLETTER, DEADLETTER_KEY, to_json(letter))

    @staticmethod
    def _outputs(step: engine.Step) -> list[Out]:
        if not step.alerts and not step.summaries:
            return []  # most readings: no comprehension or generator built
        out = [Out(ALERTS, a.patient_key.encode(), to_json(a)) for a in step.alerts]
        out.extend(Out(SUMMARIES, s.patient_key.encode(), s.to_json()) for s in step.summaries)
        return out

    def _publish(self, tables: PartitionTables, key: str, step: engine.Step) -> list[Out]:
        tables.changed_by_other(key, step.state)
        return self._outputs(step)

    def reading(self, tables: PartitionTables, raw: bytes, origin: Origin, now: datetime | None = None,
                replaying: Held | None = None, now_s: float | None = None) -> list[Out]:
        """Scores one readings record (`now`: the wall clock, or when it was first received, on a replay; `now_s`:
        its epoch seconds, when a batch shares one `now`). Replaying, a reading the patient's restored state
        already holds (`replaying`: what each holds) is skipped."""
        tables.head = max(tables.head, origin.offset)
        try:
            reading = from_json(raw, Reading)
        except RecordError as exc:
            return [self.dead_letter(raw, exc.reason, origin, "parse")]
        key = reading.patient_key
        if replaying is not None and holds(replaying, key, origin.offset):
            return []
        now = now or self.clock()
        refusal = self.consent(reading, now) if self.consent is not None else None
        if refusal is not None:
            return [self.dead_letter(raw, refusal, origin, "consent")]
        try:
            step = process_reading(tables.state(key), reading, now, targets=tables.targets(key),
                                   forecaster=self.forecaster_for(key))
        except Exception as exc:  # a scoring bug (or an unreadable state) must not stop the worker; kept whole
            return [self.dead_letter(raw, f"scoring failed: {type(exc).__name__}: {exc}", origin, "score")]
        tables.changed_by_reading(key, step.state, origin.offset, now.timestamp() if now_s is None else now_s)
        if not step.alerts and not step.summaries:
            return []  # most readings (checked here too: a method call costs ~1,000 instructions)
        return self._outputs(step)

    def ack(self, tables: PartitionTables, raw: bytes, origin: Origin) -> list[Out]:
        try:
            ack = from_json(raw, Ack)
            step = engine.process_ack(tables.state(ack.patient_key), ack)
        except (RecordError, ValueError) as exc:
            return [self.dead_letter(raw, getattr(exc, "reason", str(exc)), origin, "ack")]
        return self._publish(tables, ack.patient_key, step)

    def config(self, tables: PartitionTables, raw: bytes, origin: Origin) -> list[Out]:
        try:
            config = PatientConfig.from_json(raw)
        except RecordError as exc:
            return [self.dead_letter(raw, exc.reason, origin, "config")]
        tables.set_config(config.patient_key, raw)
        return []

    def tick(self, tables: PartitionTables, now: datetime, keys: Iterable[str] | None = None) -> list[Out]:
        """The wall-clock check for every patient of the partition (or for `keys`, a slice of them: a patient no
        longer there is skipped); only changed states are written."""
        out: list[Out] = []
        for key in tables.patients() if keys is None else keys:
            if self.monitored is not None and not self.monitored(key, now):
                continue  # withdrawn or erased: no alert about a patient vigil no longer monitors
            try:
                state = tables.state(key)
                if state is None:
                    continue
                step = engine.tick(state, now, tables.targets(key))
            except Exception as exc:  # one unreadable state must not stop the others' checks
                out.append(self.dead_letter(key.encode(), f"tick failed: {type(exc).__name__}: {exc}", None,
                                            "tick"))
                continue
            if step.state is not state or step.alerts or step.summaries:
                out.extend(self._publish(tables, key, step))
        return out


def handle(core: WorkerCore, tables: PartitionTables, kind: str, records: Iterable[tuple[bytes, Origin]]
           ) -> list[Out]:
    """Runs one topic's records of a partition, in offset order, through the core; readings of one call share
    one reading of the wall clock (it only marks when a sensor was last heard of, on a scale of minutes)."""
    out: list[Out] = []
    if kind == "readings":
        now = core.clock()
        now_s = now.timestamp()  # once a batch: ~2,000 instructions (seventeenth session)
        for raw, origin in records:
            out.extend(core.reading(tables, raw, origin, now, None, now_s))
        return out
    step = {"acks": core.ack, "patient_config": core.config}[kind]
    for raw, origin in records:
        out.extend(step(tables, raw, origin))
    return out
