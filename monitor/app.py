"""The faust application: its settings, topics and tables; agents live in monitor.agents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import faust

from monitor import topics
from monitor.config import Settings
from monitor.security import KafkaSecurity

TICKS: Final = "vigil.monitor-ticks.v1"  # internal: wall-clock ticks keyed by patient, so tables change in-stream
PARTITIONS: Final = 12


@dataclass(frozen=True)
class Wiring:
    """The faust objects the agents need, built once per app."""

    app: faust.App
    readings: Any
    alerts: Any
    acks: Any
    deadletter: Any
    state: Any
    patient_config: Any = None
    summaries: Any = None
    ticks: Any = None
    config: Any = None  # table: patient_key -> PatientConfig JSON (targets, model reference)


def _raw_topic(app: faust.App, name: str, namespace: str | None, **options: Any) -> Any:
    return app.topic(
        topics.namespaced(name, namespace),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        **options,
    )


def create_app(settings: Settings, **overrides: Any) -> Wiring:
    """Builds the faust app for one deployment; exactly-once so a crash never duplicates an alert."""
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap}",
        "store": "memory://",
        "topic_partitions": PARTITIONS,
        "topic_replication_factor": 1,
        "topic_allow_declare": True,
        "processing_guarantee": "exactly_once",
        "web_enabled": False,
        "table_cleanup_interval": 3600.0,
        "broker_commit_every": 1000,
        "broker_commit_interval": 1.0,
        "producer_linger_ms": 1,
        # faust's default standby replica stays: without it a restarted single worker stalled after recovery in
        # 2 of 2 runs; with it, killing one of two workers can stall or crash the survivor (issue 9, open).
        "stream_wait_empty": True,
        "consumer_auto_offset_reset": "earliest",
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    options.update(KafkaSecurity.from_env().faust_options())  # SASL/SCRAM + TLS from VIGIL_KAFKA_* (issue 8)
    options.update(overrides)
    app = faust.App(settings.worker_group, **options)
    # Changelog-backed tables keyed by patient_key: a restarted worker resumes exactly where it stopped.
    state = app.Table("patient-state", default=None, key_type=str, value_type=bytes, partitions=PARTITIONS)
    config = app.Table("patient-config", default=None, key_type=str, value_type=bytes, partitions=PARTITIONS)
    return Wiring(
        app=app,
        readings=_raw_topic(app, topics.READINGS, settings.namespace),
        alerts=_raw_topic(app, topics.ALERTS, settings.namespace),
        acks=_raw_topic(app, topics.ACKS, settings.namespace),
        deadletter=_raw_topic(app, topics.DEADLETTER, settings.namespace),
        state=state,
        patient_config=_raw_topic(app, topics.PATIENT_CONFIG, settings.namespace),
        summaries=_raw_topic(app, topics.SUMMARIES, settings.namespace),
        # Internal: faust declares it itself, so a worker never waits on a topic nobody created.
        ticks=_raw_topic(app, TICKS, settings.namespace, internal=True, partitions=PARTITIONS,
                         retention=timedelta(days=1)),
        config=config,
    )
