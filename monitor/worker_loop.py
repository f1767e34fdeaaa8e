"""What the two batch loops (rdkafka_worker, batch_worker) share, free of any Kafka library: the topic names of a
deployment, the ready lines `vigil worker` prints, and the loop statistics operators read to tune."""

from __future__ import annotations

import logging
import time

from monitor import topics, worker_core
from monitor.config import Settings

log = logging.getLogger(__name__)

READY_LINE = "vigil batch worker: ready"
RDKAFKA_READY_LINE = "vigil rdkafka worker: ready"
# what `vigil worker` prints once ready, per runtime
READY_BY_RUNTIME = {"faust": "[^Worker]: Ready", "batch": READY_LINE, "rdkafka": RDKAFKA_READY_LINE}
READY_LINES = tuple(READY_BY_RUNTIME.values())
INPUTS = {topics.READINGS: "readings", topics.ACKS: "acks", topics.PATIENT_CONFIG: "patient_config"}


class TopicNames:
    """The namespaced topic names of one deployment, the changelogs named as faust names them."""

    def __init__(self, settings: Settings) -> None:
        ns = settings.namespace
        self.kind = {topics.namespaced(base, ns): kind for base, kind in INPUTS.items()}
        self.out = {
            worker_core.ALERTS: topics.namespaced(topics.ALERTS, ns),
            worker_core.SUMMARIES: topics.namespaced(topics.SUMMARIES, ns),
            worker_core.DEADLETTER: topics.namespaced(topics.DEADLETTER, ns),
            worker_core.STATE: topics.table_changelog(settings.worker_group, topics.STATE_TABLE),
            worker_core.CONFIG: topics.table_changelog(settings.worker_group, topics.CONFIG_TABLE),
        }
        self.changelog = {self.out[worker_core.STATE]: worker_core.STATE,
                          self.out[worker_core.CONFIG]: worker_core.CONFIG}


class LoopStats:
    """Where the lanes' time goes, logged every `every_s` seconds at INFO (operators read it to tune)."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self._reset(time.monotonic())

    def _reset(self, now: float) -> None:
        self.since, self.txns, self.records, self.score_s, self.commit_s, self.commit_max_s = now, 0, 0, 0.0, 0.0, 0.0
        self.polls, self.age_s, self.age_max_s, self.wait_s = 0, 0.0, 0.0, 0.0

    def polled(self, age_s: float) -> None:
        """How long the oldest record of a polled batch had been in Kafka (its timestamp to now)."""
        self.polls += 1
        self.age_s += age_s
        self.age_max_s = max(self.age_max_s, age_s)

    def waited(self, wait_s: float) -> None:
        """How long the loop waited for the previous transaction before it could send the next one."""
        self.wait_s += wait_s

    def txn(self, records: int, score_s: float, commit_s: float) -> None:
        self.txns += 1
        self.records += records
        self.score_s += score_s
        self.commit_s += commit_s
        self.commit_max_s = max(self.commit_max_s, commit_s)
        now = time.monotonic()
        if now - self.since >= self.every_s:
            extra = "" if not self.polls else (
                f"; oldest record of a poll {1000 * self.age_s / self.polls:.0f} ms old on average (max "
                f"{1000 * self.age_max_s:.0f} ms); loop waited {1000 * self.wait_s:.0f} ms for commits")
            log.info("%d records in %d transactions in %.0f s: scoring %.0f ms, commits %.0f ms (max %.0f ms)%s",
                     self.records, self.txns, now - self.since, 1000 * self.score_s, 1000 * self.commit_s,
                     1000 * self.commit_max_s, extra)
            self._reset(now)
