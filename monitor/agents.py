"""Thin faust agents: move records in and out of the pure engine, and bad input to the dead-letter topic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from monitor import engine
from monitor.app import Wiring, create_app
from monitor.config import Settings
from monitor.records import DeadLetter, Reading, RecordError, from_json, to_json

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def register(wiring: Wiring, clock: Clock = utc_now) -> Any:
    """Attaches the scoring agent to the app and returns it (tests drive it with agent.test_context())."""
    app = wiring.app

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
        await wiring.deadletter.send(key=b"monitor", value=to_json(letter))

    @app.agent(wiring.readings, name="score-readings")
    async def score_readings(stream: Any) -> Any:
        async for event in stream.events():
            raw = event.value
            try:
                reading = from_json(raw, Reading)
            except RecordError as exc:
                await dead_letter(raw, exc.reason, event, "parse")
                continue
            try:
                state = engine.load_state(wiring.state.get(reading.patient_key))
                new_state, alerts = engine.process_reading(state, reading, clock())
            except Exception as exc:  # noqa: BLE001 - a scoring bug must not stop the worker; the reading is kept
                await dead_letter(raw, f"scoring failed: {type(exc).__name__}: {exc}", event, "score")
                continue
            wiring.state[reading.patient_key] = engine.dump_state(new_state)
            for alert in alerts:
                await wiring.alerts.send(key=alert.patient_key.encode(), value=to_json(alert))

    return score_readings


wiring = create_app(Settings.from_env())
app = wiring.app
score_readings = register(wiring)
