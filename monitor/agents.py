"""Thin faust agents: move records in and out of the pure engine, and bad input to the dead-letter topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.registry import worker_forecasters
from monitor import engine
from monitor.app import Wiring, create_app
from monitor.config import Settings, WorkerTiming
from monitor.consent_feed import ConsentGate, gate_from_env
from monitor.records import Ack, DeadLetter, Reading, RecordError, from_json, to_json
from monitor.state_cache import StateCache
from monitor.targets import DEFAULT_TARGETS, PatientConfig, Targets
from monitor.worker_core import Clock, ForecasterFor, utc_now


def ar2_for_everyone() -> ForecasterFor:
    """The default registry lookup: Nightscout's AR2 for every patient (models/ may register better ones)."""
    ar2 = engine.default_forecaster()
    return lambda _patient_key: ar2


@dataclass(frozen=True)
class Agents:
    """The registered agents and timer, for tests (agent.test_context()) and the worker."""

    score_readings: Any
    apply_acks: Any
    apply_config: Any
    apply_ticks: Any
    send_ticks: Any


def register(wiring: Wiring, clock: Clock = utc_now, forecaster_for: ForecasterFor | None = None,
             tick_seconds: float | None = None, consent: ConsentGate | None = None) -> Agents:
    """Attaches the agents to the app and returns them."""
    app = wiring.app
    lookup = forecaster_for or ar2_for_everyone()
    interval = tick_seconds or WorkerTiming().tick_s
    states = StateCache()  # decoded states of recently written patients (a hit needs the table's exact bytes)

    async def dead_letter(raw: bytes, reason: str, event: Any, stage: str) -> None:
        message = getattr(event, "message", None)
        letter = DeadLetter.of(
            raw if isinstance(raw, bytes) else str(raw).encode(),
            source="monitor",
            stage=stage,
            reason=reason,
            at=clock(),
            topic=getattr(message, "topic", None),
            partition=getattr(message, "partition", None),
            offset=getattr(message, "offset", None),
        )
        await wiring.txn.send(wiring.deadletter, key=b"monitor", value=to_json(letter), event=event)

    def targets_of(key: str) -> Targets:
        raw = wiring.config.get(key) if wiring.config is not None else None
        return DEFAULT_TARGETS if raw is None else PatientConfig.from_json(raw).targets

    async def publish(key: str, step: engine.Step, event: Any, before: bytes | None = None) -> None:
        """Writes the new state and its records inside the input's transaction; an unchanged state is not
        rewritten (a tick that changes nothing costs no changelog record)."""
        if consent is not None and not consent.monitored(key, clock()):
            states.forget(key)  # withdrawn or erased: nothing more is written about them (as in worker_core)
        else:
            value = engine.dump_state(step.state)
            if value != before:
                await wiring.txn.set(wiring.state, key, value, event=event)
            states.remember(key, value, step.state)
        for alert in step.alerts:
            await wiring.txn.send(wiring.alerts, key=alert.patient_key.encode(), value=to_json(alert), event=event)
        for done in step.summaries:
            await wiring.txn.send(wiring.summaries, key=done.patient_key.encode(), value=done.to_json(), event=event)

    @app.agent(wiring.readings, name="score-readings")
    async def score_readings(stream: Any) -> Any:
        async for event in stream.events():
            await wiring.restored(event)
            raw = event.value
            try:
                reading = from_json(raw, Reading)
            except RecordError as exc:
                await dead_letter(raw, exc.reason, event, "parse")
                continue
            key = reading.patient_key
            # consent gate (issue 8, monitor/consent_feed.py): without active monitoring consent, never scored
            refusal = await consent.refusal(reading, clock()) if consent is not None else None
            if refusal is not None:
                await dead_letter(raw, refusal, event, "consent")
                continue
            try:
                step = engine.process(states.load(key, wiring.state.get(key)), reading, clock(),
                                      targets=targets_of(key), forecaster=lookup(key))
            except Exception as exc:  # a scoring bug must not stop the worker; the reading is kept
                await dead_letter(raw, f"scoring failed: {type(exc).__name__}: {exc}", event, "score")
                continue
            await publish(key, step, event)

    @app.agent(wiring.acks, name="apply-acks")
    async def apply_acks(stream: Any) -> Any:
        async for event in stream.events():
            await wiring.restored(event)
            try:
                ack = from_json(event.value, Ack)
                step = engine.process_ack(states.load(ack.patient_key, wiring.state.get(ack.patient_key)), ack)
            except (RecordError, ValueError) as exc:
                await dead_letter(event.value, getattr(exc, "reason", str(exc)), event, "ack")
                continue
            await publish(ack.patient_key, step, event)

    @app.agent(wiring.patient_config, name="apply-config")
    async def apply_config(stream: Any) -> Any:
        async for event in stream.events():
            await wiring.restored(event)
            try:
                config = PatientConfig.from_json(event.value)
            except RecordError as exc:
                await dead_letter(event.value, exc.reason, event, "config")
                continue
            await wiring.txn.set(wiring.config, config.patient_key, event.value, event=event)

    @app.agent(wiring.ticks, name="apply-ticks")
    async def apply_ticks(stream: Any) -> Any:
        """One tick per partition: every patient of that partition is checked against the wall clock."""
        async for event in stream.events():
            await wiring.restored(event)
            try:
                now = datetime.fromisoformat(event.value.decode())
            except (ValueError, UnicodeDecodeError, AttributeError) as exc:
                await dead_letter(event.value, f"bad tick: {exc}", event, "tick")
                continue
            partition = event.message.partition
            for key in wiring.keys_of_partition(wiring.state, partition):
                if consent is not None and not consent.monitored(key, now):
                    continue  # withdrawn or erased: no alert, and no state written, for them
                raw = wiring.state.get(key)
                state = states.load(key, raw)
                if state is not None:
                    await publish(key, engine.tick(state, now, targets_of(key)), event, before=raw)

    @app.timer(interval=interval, name="send-ticks")  # type: ignore[untyped-decorator]
    async def send_ticks() -> None:
        """The wall clock, turned into one tick record per partition (tables may only change inside a stream).

        Sent outside any transaction: a tick is a trigger, not a result, and the worker may not own the
        partition it ticks (another worker does); a repeated tick changes nothing.
        """
        await wiring.send_ticks(clock())

    return Agents(score_readings, apply_acks, apply_config, apply_ticks, send_ticks)


settings = Settings.from_env()
wiring = create_app(settings)
app = wiring.app
# The promoted model from the registry (VIGIL_MODEL_STORE); AR2 for everyone when none is promoted.
agents = register(wiring, consent=gate_from_env(), forecaster_for=worker_forecasters(),
                  tick_seconds=settings.timing.tick_s)
score_readings = agents.score_readings
