"""What the bench's tests share: a stand-in for the local broker that records how the bench started it."""

from __future__ import annotations

from typing import Any

import pytest

from bench import cluster


@pytest.fixture
def started_brokers(monkeypatch) -> list[dict[str, Any]]:
    """Each broker cluster.broker() starts, as what it was given: its state folder, heap and extra properties."""
    started: list[dict[str, Any]] = []

    class RecordingKafka:
        def __init__(self, state, heap: str = "", **_: object) -> None:
            self.seen: dict[str, Any] = {"state": state, "heap": heap}
            started.append(self.seen)

        def up(self, extra_properties=None) -> str:
            self.seen["properties"] = extra_properties
            return "127.0.0.1:1"

        def destroy(self) -> None:
            pass

    monkeypatch.setattr(cluster, "LocalKafka", RecordingKafka)
    return started
