"""What the batch worker does with one partition's input records, free of Kafka: parse, gate, score, and name
the outputs and the changed table values, so a transaction can carry them together with the input offsets."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from models.api import Forecaster
from monitor import engine, topics
from monitor.records import Ack, DeadLetter, Reading, RecordError, from_json, to_json
from monitor.state_cache import StateCache
from monitor.targets import DEFAULT_TARGETS, PatientConfig, Targets

Clock = Callable[[], datetime]
ForecasterFor = Callable[[str], Forecaster | None]
ConsentCheck = Callable[[Reading, datetime], str | None]  # None, or the reason the reading may not be scored


def utc_now() -> datetime:
    """The workers' wall clock (tests inject monitor.testing.FakeClock instead)."""
    return datetime.now(UTC)

ALERTS: Final = "alerts"
SUMMARIES: Final = "summaries"
DEADLETTER: Final = "deadletter"
STATE: Final = "state"  # the patient-state changelog
CONFIG: Final = "config"  # the patient-config changelog
DEADLETTER_KEY: Final = b"monitor"


@dataclass(frozen=True)
class Out:
    """One record to write inside the input's transaction: a logical topic (the I/O module names it), key, value."""

    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class Origin:
    """Where an input record came from, for its dead letter."""

    topic: str
    partition: int
    offset: int


@dataclass
class PartitionTables:
    """One partition's patients: table bytes as last committed, states changed since, parsed targets."""

    states: StateCache
    raw: dict[str, bytes] = field(default_factory=dict)
    changed: dict[str, engine.MonitorState] = field(default_factory=dict)
    config_raw: dict[str, bytes] = field(default_factory=dict)
    config_changed: dict[str, bytes] = field(default_factory=dict)
    _targets: dict[str, Targets] = field(default_factory=dict)

    def restore(self, topic: str, key: str, value: bytes | None) -> None:
        """Applies one changelog record read back after a (re)assignment; None is a tombstone."""
        table = self.raw if topic == STATE else self.config_raw
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
        self._targets.pop(key, None)

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
        self.config_changed[key] = value
        self._targets.pop(key, None)

    def patients(self) -> list[str]:
        return list(self.raw.keys() | self.changed.keys())

    def flush(self) -> list[Out]:
        """The changelog records of everything changed since the last flush (an unchanged value is not rewritten),
        now taken as committed: call it last, right before the transaction commits."""
        out: list[Out] = []
        for key, state in self.changed.items():
            value = engine.dump_state(state)
            if value != self.raw.get(key):
                self.raw[key] = value
                out.append(Out(STATE, topics.changelog_key(key), value))
            self.states.remember(key, value, state)
        for key, value in self.config_changed.items():
            if value != self.config_raw.get(key):
                self.config_raw[key] = value
                out.append(Out(CONFIG, topics.changelog_key(key), value))
        self.changed.clear()
        self.config_changed.clear()
        return out


@dataclass
class WorkerCore:
    """The agents' logic (monitor/agents.py does the same for faust), one input record at a time."""

    clock: Clock
    forecaster_for: ForecasterFor
    consent: ConsentCheck | None = None

    def dead_letter(self, raw: bytes, reason: str, origin: Origin | None, stage: str) -> Out:
        letter = DeadLetter.of(raw, source="monitor", stage=stage, reason=reason, at=self.clock(),
                               topic=origin.topic if origin else None,
                               partition=origin.partition if origin else None,
                               offset=origin.offset if origin else None)
        return Out(DEADLETTER, DEADLETTER_KEY, to_json(letter))

    def _publish(self, tables: PartitionTables, key: str, step: engine.Step) -> list[Out]:
        tables.changed[key] = step.state
        out = [Out(ALERTS, a.patient_key.encode(), to_json(a)) for a in step.alerts]
        out.extend(Out(SUMMARIES, s.patient_key.encode(), s.to_json()) for s in step.summaries)
        return out

    def reading(self, tables: PartitionTables, raw: bytes, origin: Origin) -> list[Out]:
        try:
            reading = from_json(raw, Reading)
        except RecordError as exc:
            return [self.dead_letter(raw, exc.reason, origin, "parse")]
        key, now = reading.patient_key, self.clock()
        refusal = self.consent(reading, now) if self.consent is not None else None
        if refusal is not None:
            return [self.dead_letter(raw, refusal, origin, "consent")]
        try:
            step = engine.process(tables.state(key), reading, now, targets=tables.targets(key),
                                  forecaster=self.forecaster_for(key))
        except Exception as exc:  # a scoring bug (or an unreadable state) must not stop the worker; kept whole
            return [self.dead_letter(raw, f"scoring failed: {type(exc).__name__}: {exc}", origin, "score")]
        return self._publish(tables, key, step)

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

    def tick(self, tables: PartitionTables, now: datetime) -> list[Out]:
        """The wall-clock check for every patient of the partition; only changed states are written."""
        out: list[Out] = []
        for key in tables.patients():
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
    """Runs one topic's records of a partition, in offset order, through the core."""
    step = {"readings": core.reading, "acks": core.ack, "patient_config": core.config}[kind]
    out: list[Out] = []
    for raw, origin in records:
        out.extend(step(tables, raw, origin))
    return out
