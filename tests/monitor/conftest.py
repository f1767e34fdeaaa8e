"""Factory fixtures shared by the tests of the worker's pure core (a module may still define its own)."""

from __future__ import annotations

import pytest

from monitor import engine
from monitor.testing import FakeClock
from monitor.worker_core import WorkerCore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_core(clock):
    """WorkerCore on the `clock` fixture with the AR2 forecaster; `consent` as WorkerCore takes it."""
    forecaster = engine.default_forecaster()

    def factory(consent=None) -> WorkerCore:
        return WorkerCore(clock=clock, forecaster_for=lambda _key: forecaster, consent=consent)
    return factory
