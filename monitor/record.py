"""`vigil record`: topics to day-partitioned Parquet with a manifest (offsets, time range, rows, checksum)."""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from monitor import topics
from monitor.config import Settings
from monitor.reading_table import READING_SCHEMA, TS, reading_row
from monitor.records import Ack, Alert, DeadLetter, NotificationAttempt, Reading, RecordError, parse_any
from monitor.topic_reader import ConsumedMessage

LABELS: Final = {"readings": topics.READINGS, "alerts": topics.ALERTS, "acks": topics.ACKS,
                 "notifications": topics.NOTIFICATIONS, "deadletter": topics.DEADLETTER}
KAFKA_COLUMNS: Final = [pa.field("partition", pa.int32()), pa.field("offset", pa.int64()),
                        pa.field("kafka_timestamp", TS), pa.field("key", pa.binary())]
READINGS_RECORDED: Final = pa.schema([*READING_SCHEMA, *KAFKA_COLUMNS])
RECORDS_RECORDED: Final = pa.schema([
    *KAFKA_COLUMNS, pa.field("record_type", pa.string()), pa.field("schema_version", pa.int32()),
    pa.field("record_id", pa.string()), pa.field("patient_key", pa.string()), pa.field("kind", pa.string()),
    pa.field("state", pa.string()), pa.field("event_time", TS), pa.field("value", pa.string()),
])
UNPARSED: Final = pa.schema([*KAFKA_COLUMNS, pa.field("value", pa.binary()), pa.field("reason", pa.string())])
# Columns that differ between two recordings of the same content: the broker's append (receive) time.
RECEIVE_TIME_COLUMNS: Final = ("kafka_timestamp",)


def _kafka(m: ConsumedMessage) -> dict[str, Any]:
    return {"partition": m.partition, "offset": m.offset,
            "kafka_timestamp": datetime.fromtimestamp(m.timestamp_ms / 1000, tz=UTC), "key": m.key}


def _record_row(m: ConsumedMessage, record: Any) -> tuple[dict[str, Any], datetime]:
    """A non-reading record as index columns plus its full JSON, and its event time."""
    if isinstance(record, Alert):
        at, rid, kind, state = record.triggered_at, record.alert_id, record.kind, record.state.value
    elif isinstance(record, Ack):
        at, rid, kind, state = record.at, record.ack_id, record.action.value, None
    elif isinstance(record, NotificationAttempt):
        at, rid, kind, state = record.at, record.attempt_id, record.channel, record.status
    elif isinstance(record, DeadLetter):
        at, rid, kind, state = record.at, None, record.stage, None
    else:  # pragma: no cover - parse_any knows only these
        raise RecordError(f"unexpected record {type(record).__name__}")
    row = {**_kafka(m), "record_type": record.to_dict()["type"], "schema_version": record.schema_version,
           "record_id": rid, "patient_key": getattr(record, "patient_key", None), "kind": kind, "state": state,
           "event_time": at, "value": m.value.decode("utf-8")}
    return row, at


@dataclass
class TopicStats:
    topic: str
    rows: int = 0
    unparsed: int = 0
    offsets: dict[int, list[int]] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    schema_versions: set[int] = field(default_factory=set)
    files: list[dict[str, Any]] = field(default_factory=list)

    def note(self, m: ConsumedMessage, at: datetime | None, version: int | None) -> None:
        span = self.offsets.setdefault(m.partition, [m.offset, m.offset])
        span[0], span[1] = min(span[0], m.offset), max(span[1], m.offset)
        if at is not None:
            self.first = at if self.first is None or at < self.first else self.first
            self.last = at if self.last is None or at > self.last else self.last
        if version is not None:
            self.schema_versions.add(version)


class RecordingWriter:
    """Buffers consumed records per topic and day and writes them as numbered Parquet parts; close() writes the
    remaining buffer and the manifest. Nothing buffered is lost as long as close() runs (it does on SIGINT)."""

    def __init__(self, out_dir: Path, labels: dict[str, str], *, batch_rows: int = 10_000,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), meta: dict[str, Any] | None = None):
        self.out_dir = out_dir
        self.by_topic = {topic: label for label, topic in labels.items()}
        self.batch_rows = batch_rows
        self.clock = clock
        self.meta = dict(meta or {})
        self.started = clock()
        self.stats = {label: TopicStats(topic) for label, topic in labels.items()}
        self._buffers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._parts: dict[tuple[str, str], int] = {}
        self._buffered = 0
        self.closed = False

    def add(self, m: ConsumedMessage) -> None:
        label = self.by_topic[m.topic]
        stats = self.stats[label]
        try:
            if label == "readings":
                from monitor.records import from_json

                reading = from_json(m.value, Reading)
                row, at, version = {**reading_row(reading), **_kafka(m)}, reading.measured_at, reading.schema_version
            else:
                record = parse_any(m.value)
                row, at = _record_row(m, record)
                version = record.schema_version
        except (RecordError, UnicodeDecodeError) as exc:
            stats.unparsed += 1
            stats.note(m, None, None)
            self._buffer((label, "unparsed"), {**_kafka(m), "value": m.value, "reason": str(exc)})
            return
        stats.rows += 1
        stats.note(m, at, version)
        self._buffer((label, f"day={at.date().isoformat()}"), row)

    def _buffer(self, where: tuple[str, str], row: dict[str, Any]) -> None:
        self._buffers.setdefault(where, []).append(row)
        self._buffered += 1
        if self._buffered >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        for (label, folder), rows in sorted(self._buffers.items()):
            if not rows:
                continue
            schema = UNPARSED if folder == "unparsed" else READINGS_RECORDED if label == "readings" \
                else RECORDS_RECORDED
            rows.sort(key=lambda r: (r["partition"], r["offset"]))
            number = self._parts.get((label, folder), 0)
            self._parts[(label, folder)] = number + 1
            path = self.out_dir / label / folder / f"part-{number:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            self.stats[label].files.append({"path": str(path.relative_to(self.out_dir)), "rows": len(rows),
                                            "sha256": digest})
        self._buffers.clear()
        self._buffered = 0

    def manifest(self, stop_reason: str) -> dict[str, Any]:
        files = sorted((f["path"], f["sha256"]) for s in self.stats.values() for f in s.files)
        checksum = hashlib.sha256("\n".join(f"{p}:{h}" for p, h in files).encode()).hexdigest()
        return {
            "format": "vigil-recording", "format_version": 1, **self.meta,
            "started_at": self.started.isoformat(), "stopped_at": self.clock().isoformat(),
            "stop_reason": stop_reason,
            "topics": {label: {
                "topic": s.topic, "rows": s.rows, "unparsed": s.unparsed,
                "offsets": {str(p): {"first": a, "last": b} for p, (a, b) in sorted(s.offsets.items())},
                "time_range": None if s.first is None or s.last is None
                else [s.first.isoformat(), s.last.isoformat()],
                "schema_versions": sorted(s.schema_versions), "files": s.files,
            } for label, s in self.stats.items()},
            "checksum": {"algorithm": "sha256 of sorted 'path:sha256' lines", "value": checksum},
        }

    def close(self, stop_reason: str = "end") -> dict[str, Any]:
        """Writes what is buffered and the manifest; safe to call twice."""
        if self.closed:
            written: dict[str, Any] = json.loads((self.out_dir / "manifest.json").read_text())
            return written
        self.flush()
        manifest = self.manifest(stop_reason)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.out_dir / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(self.out_dir / "manifest.json")
        self.closed = True
        return manifest


def record(messages: Iterable[ConsumedMessage | None], writer: RecordingWriter, stop_reason: Callable[[], str],
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Drains messages into the writer and always closes it, even when the source raises.

    None items are idle heartbeats from the source: progress(count) is called on them when the count changed."""
    count = reported = 0
    try:
        for m in messages:
            if m is None:
                if progress is not None and count != reported:
                    progress(count)
                    reported = count
                continue
            writer.add(m)
            count += 1
    finally:
        manifest = writer.close(stop_reason())
    return manifest


def verify(out_dir: Path) -> list[str]:
    """Problems found when checking a recording's files against its manifest (empty when it is intact)."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    problems = []
    for label, entry in manifest["topics"].items():
        for f in entry["files"]:
            path = out_dir / f["path"]
            if not path.exists():
                problems.append(f"{label}: missing {f['path']}")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != f["sha256"]:
                problems.append(f"{label}: checksum mismatch {f['path']}")
    return problems


def default_out_dir(today: date) -> Path:
    return Path("recordings") / today.isoformat()


def add_parser(sub: Any) -> None:
    rec = sub.add_parser("record", help="record topics to day-partitioned Parquet with a manifest")
    rec.add_argument("--topics", default="readings,alerts", help=f"comma list of {', '.join(LABELS)}")
    rec.add_argument("--out", type=Path, default=None, help="folder (default recordings/<today>/)")
    rec.add_argument("--namespace", default=None)
    rec.add_argument("--bootstrap", default=None)
    rec.add_argument("--from-beginning", action="store_true", help="start at the oldest offsets (default: new only)")
    rec.add_argument("--until-end", action="store_true", help="stop at the end offsets seen at start")
    rec.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    rec.add_argument("--batch-rows", type=int, default=10_000, help="rows buffered before a Parquet part is written")
    rec.set_defaults(func=cli_record)


def cli_record(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.topic_reader import TopicMissingError, consume

    wanted = [t.strip() for t in args.topics.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in LABELS]
    if unknown:
        print(f"vigil: unknown topic label(s) {', '.join(unknown)} (known: {', '.join(LABELS)})", file=sys.stderr)
        return 2
    namespace = args.namespace or settings.namespace
    labels = {label: topics.namespaced(LABELS[label], namespace) for label in wanted}
    out = args.out or default_out_dir(datetime.now(UTC).date())
    bootstrap = args.bootstrap or settings.bootstrap
    stopping = threading.Event()
    reason = {"value": "until-end" if args.until_end else "idle" if args.idle_timeout else "end"}

    def on_signal(signum: int, _frame: Any) -> None:
        reason["value"] = signal.Signals(signum).name
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    writer = RecordingWriter(out, labels, batch_rows=args.batch_rows,
                             meta={"bootstrap": bootstrap, "namespace": namespace})
    print(f"vigil: recording {', '.join(labels.values())} to {out} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        manifest = record(consume(bootstrap, list(labels.values()), from_beginning=args.from_beginning,
                                  until_end=args.until_end, stop=stopping.is_set,
                                  idle_timeout_s=args.idle_timeout, heartbeats=True), writer,
                          lambda: reason["value"],
                          lambda n: print(f"vigil: recorded {n} record(s)", file=sys.stderr, flush=True))
    except TopicMissingError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    counts = ", ".join(f"{label}={t['rows']}" for label, t in manifest["topics"].items())
    print(f"vigil: recording stopped ({manifest['stop_reason']}): {counts}; manifest {out / 'manifest.json'}",
          flush=True)
    return 0
