"""`vigil patient set-targets`: a patient's thresholds onto the compacted config topic the worker reads."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any, Final

from monitor.records import RecordError
from monitor.targets import DEFAULT_TARGETS, PatientConfig, with_overrides

# CLI option -> Targets field; every other threshold keeps its design-section-4 default.
OPTIONS: Final = {
    "low": "low", "high": "high", "urgent_low": "urgent_low", "very_high": "very_high",
    "high_persist_min": "high_persist_min", "no_data_min": "no_data_min", "hr_baseline": "hr_baseline",
    "spo2_baseline": "spo2_baseline", "rise_alert_mgdl": "rise_alert_mgdl",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The set-targets options, added to the `vigil patient` parser that monitor.erasure registers."""
    group = parser.add_argument_group("set-targets (mg/dL, minutes; omitted thresholds keep their defaults)")
    for name in OPTIONS:
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"target_{name}", type=float, default=None)
    group.add_argument("--model-ref", default=None, help="forecaster registry reference (default: AR2)")


def config_from_args(key: str, args: argparse.Namespace, now: datetime) -> PatientConfig:
    """The full config record for a patient; raises RecordError for thresholds that cannot work together."""
    overrides = {field: getattr(args, f"target_{name}") for name, field in OPTIONS.items()
                 if getattr(args, f"target_{name}", None) is not None}
    return PatientConfig(key, with_overrides(DEFAULT_TARGETS, overrides), model_ref=getattr(args, "model_ref", None),
                         updated_at=now)


def publish(bootstrap: str, topic: str, config: PatientConfig) -> None:
    """Writes the record keyed by patient_key (compaction keeps the latest) and waits for acks=all."""
    from kafka import KafkaProducer

    from monitor.security import kafka_python_kwargs

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             client_id="vigil-set-targets", **kafka_python_kwargs(None))
    try:
        producer.send(topic, key=config.patient_key.encode(), value=config.to_json()).get(timeout=30)
    finally:
        producer.close()


def cli_set_targets(args: argparse.Namespace, settings: Any) -> int:
    """Publishes the config; the record replaces the previous one, so pass every override to keep."""
    from monitor.consent_store import resolve_patient
    from monitor.topics import PATIENT_CONFIG, namespaced

    key = resolve_patient(args.patient, settings.pseudonym_secret)
    try:
        config = config_from_args(key, args, datetime.now(UTC))
    except RecordError as exc:
        print(f"vigil: {exc.reason}", file=sys.stderr)
        return 2
    topic = namespaced(PATIENT_CONFIG, settings.namespace)
    publish(args.bootstrap or settings.bootstrap, topic, config)
    changed = ", ".join(f"{k}={v:g}" for k, v in config.to_dict()["targets"].items()) or "all defaults"
    print(f"vigil: targets for {key} on {topic}: {changed}")
    return 0
