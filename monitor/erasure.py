"""`vigil patient erase`: removes one patient from every store vigil controls, and leaves a receipt without PII."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from monitor import topics
from monitor.consent_store import ConsentStore, resolve_patient
from monitor.consent_store import default_path as consent_db_path

SendTombstone = Callable[[str, bytes], None]
"""Publishes a null value for one key on every partition of one compacted topic and waits for the acks."""

PATIENT_KEY_COLUMN = "patient_key"


def tombstone_targets(patient_key: str, namespace: str | None, worker_group: str) -> tuple[tuple[str, bytes], ...]:
    """Every compacted (topic, key) holding the patient: contract topics use the raw key, faust changelogs JSON."""
    table_key = topics.changelog_key(patient_key)
    return (
        (topics.namespaced(topics.CONSENT, namespace), patient_key.encode()),
        (topics.namespaced(topics.PATIENT_CONFIG, namespace), patient_key.encode()),
        (topics.table_changelog(worker_group, topics.STATE_TABLE), table_key),
        (topics.table_changelog(worker_group, topics.CONFIG_TABLE), table_key),
    )


def erasure_reference(patient_key: str) -> str:
    """A one-way reference for the audit log: whoever holds the enrolment id can confirm it; nobody can reverse it."""
    return "er_" + hashlib.sha256(("vigil-erasure\x1f" + patient_key).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ErasureReport:
    """What was removed, in counts only (the audit log's details)."""

    reference: str
    identity_removed: bool | None
    consent_rows: int
    tombstones: tuple[str, ...]
    recordings_rewritten: int
    recording_rows: int
    at: datetime
    notes: tuple[str, ...] = field(default=())

    def details(self) -> dict[str, Any]:
        return {"identity_removed": self.identity_removed, "consent_rows": self.consent_rows,
                "tombstone_topics": list(self.tombstones), "recordings_rewritten": self.recordings_rewritten,
                "recording_rows": self.recording_rows, "notes": list(self.notes)}


def _row_mentions(value: object, patient_key: str) -> bool:
    """True when a recorded raw value names the patient: directly, or inside a dead letter's base64 payload."""
    if value is None:
        return False
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if patient_key in text:
        return True
    if "raw_b64" not in text:
        return False
    try:
        raw = base64.b64decode(orjson.loads(text).get("raw_b64") or "", validate=False)
    except (orjson.JSONDecodeError, AttributeError, ValueError):
        return False
    return patient_key.encode() in raw


def _keep_mask(table: Any, patient_key: str) -> list[bool]:
    keys = table.column("key").to_pylist() if "key" in table.column_names else [None] * table.num_rows
    owners = (table.column(PATIENT_KEY_COLUMN).to_pylist() if PATIENT_KEY_COLUMN in table.column_names
              else [None] * table.num_rows)
    values = table.column("value").to_pylist() if "value" in table.column_names else [None] * table.num_rows
    return [owner != patient_key and key != patient_key.encode() and not _row_mentions(value, patient_key)
            for owner, key, value in zip(owners, keys, values, strict=True)]


def _update_manifest(path: Path, rows_removed: int) -> None:
    """Keeps a recording's manifest true after a rewrite: the file's rows and sha256, the totals, the checksum."""
    for folder in path.parents:
        manifest_path = folder / "manifest.json"
        if not manifest_path.exists():
            continue
        manifest = json.loads(manifest_path.read_text())
        relative = str(path.relative_to(folder))
        entries = [(entry, f) for entry in manifest.get("topics", {}).values() for f in entry.get("files", [])
                   if f.get("path") == relative]
        for entry, f in entries:
            f["rows"] = max(0, int(f.get("rows", 0)) - rows_removed)
            f["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
            entry["rows"] = max(0, int(entry.get("rows", 0)) - rows_removed)
        if entries:
            files = sorted((f["path"], f["sha256"]) for e in manifest["topics"].values() for f in e["files"])
            manifest.setdefault("checksum", {})["value"] = hashlib.sha256(
                "\n".join(f"{p}:{h}" for p, h in files).encode()).hexdigest()
            manifest["erasures"] = int(manifest.get("erasures", 0)) + 1
            tmp = manifest_path.with_name("manifest.json.erasing")
            tmp.write_text(json.dumps(manifest, indent=2) + "\n")
            os.replace(tmp, manifest_path)
        return


def erase_recordings(folders: Iterable[Path], patient_key: str) -> tuple[int, int]:
    """Rewrites every Parquet file holding the patient's rows without them; returns (files rewritten, rows).

    A row is the patient's when its patient_key column or its Kafka key is the pseudonym, or its raw value (a dead
    letter's payload included) contains it. Manifests are updated so `vigil record verify` still passes.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = rows = 0
    for folder in folders:
        if not Path(folder).exists():
            continue
        for path in sorted(Path(folder).rglob("*.parquet")):
            table = pq.read_table(path)
            kept = table.filter(pa.array(_keep_mask(table, patient_key), type=pa.bool_()))
            removed = table.num_rows - kept.num_rows
            if removed == 0:
                continue
            tmp = path.with_name(path.name + ".erasing")
            pq.write_table(kept, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # atomic: a crash leaves the old file or the new one, never half of one
            _update_manifest(path, removed)
            files += 1
            rows += removed
    return files, rows


def erase_patient(
    patient_key: str,
    *,
    consent_store: ConsentStore,
    send_tombstone: SendTombstone,
    tombstone_on: Iterable[tuple[str, bytes]],
    recordings: Iterable[Path] = (),
    identity_eraser: Callable[[str], bool] | None = None,
    audit_append: Callable[[str, str, Mapping[str, Any], datetime], object] | None = None,
    now: datetime | None = None,
) -> ErasureReport:
    """Erases one patient: identity row, consent rows, compacted keys (tombstones), recorded rows, then audits it."""
    at = now or datetime.now(UTC)
    notes: list[str] = []
    identity_removed: bool | None = None
    if identity_eraser is None:
        notes.append("no identity store configured")
    else:
        identity_removed = identity_eraser(patient_key)
    consent_rows = consent_store.erase(patient_key)
    sent: list[str] = []
    for topic, key in tombstone_on:
        send_tombstone(topic, key)
        sent.append(topic)
    files, rows = erase_recordings(recordings, patient_key)
    report = ErasureReport(erasure_reference(patient_key), identity_removed, consent_rows, tuple(sent), files, rows,
                           at, tuple(notes))
    if audit_append is not None:
        audit_append("erasure", report.reference, report.details(), at)
    return report


def erase_identity_rows(db_path: Path, patient_key: str) -> bool:
    """Deletes the patient's identity row and care-team assignments from the identity store's SQLite file.

    secure_delete overwrites the freed pages and the WAL is checkpointed and truncated, so even the (encrypted)
    old bytes do not linger in the file. Returns whether a patient row existed.
    """
    import sqlite3
    from contextlib import closing

    if not Path(db_path).exists():
        return False
    with closing(sqlite3.connect(db_path)) as db:
        db.execute("PRAGMA secure_delete=ON")
        with db:
            removed = db.execute("DELETE FROM patients WHERE patient_key=?", (patient_key,)).rowcount
            db.execute("DELETE FROM assignments WHERE patient_key=?", (patient_key,))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return removed > 0


def kafka_tombstone_sender(bootstrap: str, security: Mapping[str, Any] | None = None) -> Any:
    """A kafka-python producer whose send waits for acks=all (a lost tombstone would keep the data)."""
    from kafka import KafkaProducer

    from monitor.security import kafka_python_kwargs

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             client_id="vigil-erasure", **kafka_python_kwargs(security))

    def send(topic: str, key: bytes) -> None:
        # Every partition: which one holds the key depends on who wrote it (faust writes changelogs by the
        # partition of the source event, not by hashing this key), and a tombstone elsewhere costs nothing.
        partitions = producer.partitions_for(topic) or set()
        for future in [producer.send(topic, key=key, value=None, partition=p) for p in sorted(partitions)]:
            future.get(timeout=30)

    send.close = producer.close  # type: ignore[attr-defined]
    return send


def _cli(args: argparse.Namespace, settings: Any) -> int:
    if args.action == "set-targets":  # issue 4: thresholds onto the patient-config topic
        from monitor.patient_targets import cli_set_targets

        return cli_set_targets(args, settings)
    key = resolve_patient(args.patient, settings.pseudonym_secret)
    from monitor.audit import AuditLog

    identity_db = Path(os.environ.get("VIGIL_IDENTITY_DB") or Path(settings.home) / "identity.sqlite")
    audit = AuditLog(Path(args.audit_db or os.environ.get("VIGIL_AUDIT_DB") or Path(settings.home) / "audit.sqlite"))
    send = kafka_tombstone_sender(args.bootstrap or settings.bootstrap)
    recordings = [Path(p) for p in (args.recordings or ["recordings"])]  # `vigil record` writes recordings/<day>
    try:
        report = erase_patient(
            key,
            consent_store=ConsentStore(Path(args.consent_db) if args.consent_db else consent_db_path(settings)),
            send_tombstone=send,
            tombstone_on=tombstone_targets(key, settings.namespace, settings.worker_group),
            recordings=recordings,
            identity_eraser=lambda k: erase_identity_rows(identity_db, k),
            audit_append=audit.append,
        )
    finally:
        send.close()
        audit.close()
    print(f"vigil: erased {report.reference}: consent rows {report.consent_rows}, tombstones on "
          f"{len(report.tombstones)} topic(s), {report.recording_rows} recorded row(s) in "
          f"{report.recordings_rewritten} file(s); identity row "
          f"{'removed' if report.identity_removed else 'not found'}")
    return 0


def add_parser(sub: Any) -> None:
    """Registers `vigil patient erase <patient>`."""
    parser = sub.add_parser("patient", help="patient data rights (erasure) and alert targets (set-targets)")
    parser.add_argument("action", choices=["erase", "set-targets"])
    parser.add_argument("patient", help="enrolment id or pk_ pseudonym")
    parser.add_argument("--recordings", action="append",
                        help="folder of Parquet recordings (repeatable; default recordings/)")
    parser.add_argument("--consent-db", default=None)
    parser.add_argument("--audit-db", default=None,
                        help="audit database (default $VIGIL_AUDIT_DB or $VIGIL_HOME/audit.sqlite)")
    parser.add_argument("--bootstrap", default=None)
    from monitor.patient_targets import add_arguments  # issue 4: vigil patient set-targets

    add_arguments(parser)
    parser.set_defaults(func=_cli)

