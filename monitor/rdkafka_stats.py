"""librdkafka's statistics as one log line: where a late record waited (the broker's answer, the client's queues)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

US_PER_MS = 1000.0


@dataclass(frozen=True, slots=True)
class BrokerWindow:
    """One broker connection over the last statistics interval (librdkafka's window statistics, in ms)."""

    node: int
    requests: int  # round trips timed in the window
    rtt_avg_ms: float
    rtt_p99_ms: float
    rtt_max_ms: float
    queued_p99_ms: float  # int_latency: a produced record's wait in the client before it joined a request
    outbuf_p99_ms: float  # outbuf_latency: a request's wait for the socket
    waiting: int  # requests sent and not answered at the snapshot
    sent_total: int = 0  # requests sent since the client started (librdkafka's tx)


@dataclass(frozen=True, slots=True)
class ClientWindow:
    """One client's statistics interval: its broker connections and the records fetched but not yet polled."""

    name: str
    kind: str  # "consumer" or "producer"
    brokers: tuple[BrokerWindow, ...]
    fetched_unpolled: int  # the consumer's queue at the snapshot: records fetched, not yet polled (consumers)


def _window_ms(stats: Mapping[str, Any], key: str, field: str) -> float:
    window = stats.get(key)
    return float(window.get(field, 0)) / US_PER_MS if isinstance(window, Mapping) else 0.0


def _broker(stats: Mapping[str, Any]) -> BrokerWindow:
    rtt = stats.get("rtt")
    return BrokerWindow(
        node=int(stats.get("nodeid", -1)),
        requests=int(rtt.get("cnt", 0)) if isinstance(rtt, Mapping) else 0,
        rtt_avg_ms=_window_ms(stats, "rtt", "avg"), rtt_p99_ms=_window_ms(stats, "rtt", "p99"),
        rtt_max_ms=_window_ms(stats, "rtt", "max"),
        queued_p99_ms=_window_ms(stats, "int_latency", "p99"),
        outbuf_p99_ms=_window_ms(stats, "outbuf_latency", "p99"),
        waiting=int(stats.get("waitresp_cnt", 0)), sent_total=int(stats.get("tx", 0)))


def client_window(stats: Mapping[str, Any]) -> ClientWindow:
    """The parts of one statistics document that say where records waited. Only the connections to real
    brokers: not the bootstrap entries (node -1) nor the logical coordinator connections, which carry heartbeats,
    not records. Partition -1 is librdkafka's internal unassigned partition.

    A subscribed consumer's partition fetch queues are forwarded to its one consumer queue, and librdkafka reports
    that queue's length as every partition's `fetchq_cnt` (`rd_kafka_q_len` follows the forwarding): the largest is
    the queue, a sum counts it once per assigned partition (the thirtieth session's "27,108" was 753 x 36)."""
    brokers = stats.get("brokers")
    topics = stats.get("topics")
    real = [b for b in (brokers.values() if isinstance(brokers, Mapping) else ())
            if isinstance(b, Mapping) and int(b.get("nodeid", -1)) >= 0 and b.get("source") != "logical"]
    unpolled = max((int(p.get("fetchq_cnt", 0))
                    for t in (topics.values() if isinstance(topics, Mapping) else ()) if isinstance(t, Mapping)
                    for key, p in (t.get("partitions") or {}).items() if key != "-1" and isinstance(p, Mapping)),
                   default=0)
    return ClientWindow(str(stats.get("name", "")), str(stats.get("type", "")),
                        tuple(sorted((_broker(b) for b in real), key=lambda b: b.node)), unpolled)


def describe(window: ClientWindow) -> str:
    """One line for the worker's log."""
    parts = []
    for b in window.brokers:
        text = (f"broker {b.node}: {b.requests} round trips, avg {b.rtt_avg_ms:.1f} p99 {b.rtt_p99_ms:.1f} "
                f"max {b.rtt_max_ms:.1f} ms, {b.waiting} unanswered")
        if window.kind == "producer":
            text += f"; records queued p99 {b.queued_p99_ms:.1f} ms, requests before the socket p99 " \
                    f"{b.outbuf_p99_ms:.1f} ms"
        parts.append(text)
    parts = parts or ["no broker connection"]
    if window.kind == "consumer":
        parts.append(f"{window.fetched_unpolled} records fetched and not yet polled")
    return f"librdkafka {window.kind} {window.name}: " + "; ".join(parts)
