"""Prints a topic's records as readable lines (the demo's alert view and an operator's tool)."""

from __future__ import annotations

import sys

from kafka import KafkaConsumer

from monitor.records import Alert, RecordError, parse_any
from monitor.security import kafka_python_kwargs


def describe(raw: bytes) -> str:
    """One human line per record; unparseable bytes are shown as such, never hidden."""
    try:
        record = parse_any(raw)
    except RecordError as exc:
        return f"(unparseable: {exc.reason})"
    if isinstance(record, Alert):
        value = "" if record.value_mgdl is None else f" {record.value_mgdl:.0f} mg/dL"
        return (f"ALERT {record.state.value:12} {record.kind:12} {record.severity.value:7} patient={record.patient_key}"
                f"{value} at {record.triggered_at:%Y-%m-%d %H:%M}Z id={record.alert_id} - {record.explanation.reason}")
    return f"{type(record).__name__}: {record.to_dict()}"


def tail_topic(bootstrap: str, topic: str, from_beginning: bool = False, max_messages: int | None = None,
               timeout_s: float | None = None) -> int:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=int(timeout_s * 1000) if timeout_s else float("inf"),
        **kafka_python_kwargs(None),
    )
    count = 0
    try:
        for message in consumer:
            print(describe(message.value), flush=True)
            count += 1
            if max_messages is not None and count >= max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    print(f"vigil: {count} record(s) from {topic}", file=sys.stderr)
    return 0
