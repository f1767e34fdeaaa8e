"""State cache: the worker's loop with it gives the same records and table bytes as decoding every time, scores
each reading once, and falls back to decoding whenever the table holds other bytes."""

from __future__ import annotations

import random

import pytest

from monitor import engine
from monitor.records import Alert
from monitor.state_cache import StateCache
from monitor.testing import cgm_series
from tests.monitor.test_engine_fast_path import stream


class Counting:
    """AR2 that counts its calls."""

    name, version, calls = "count", "1", 0

    def forecast(self, times, values, now, context=()):
        Counting.calls += 1
        return engine.default_forecaster().forecast(times, values, now, context)


def worker_loop(readings, cache: StateCache | None) -> tuple[list[Alert], dict[str, bytes]]:
    """What monitor.agents does per reading: table bytes in, engine, table bytes out."""
    table: dict[str, bytes] = {}
    alerts: list[Alert] = []
    for r in readings:
        raw = table.get(r.patient_key)
        state = cache.load(r.patient_key, raw) if cache else engine.load_state(raw)
        step = engine.process(state, r, r.received_at, forecaster=Counting())
        table[r.patient_key] = engine.dump_state(step.state)
        if cache:
            cache.remember(r.patient_key, table[r.patient_key], step.state)
        alerts.extend(step.alerts)
    return alerts, table


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_records_and_bytes_with_fewer_forecasts(seed: int):
    readings = stream(random.Random(seed))
    Counting.calls = 0
    plain = worker_loop(readings, None)
    plain_calls, Counting.calls = Counting.calls, 0
    cache = StateCache()
    cached = worker_loop(readings, cache)
    assert cached == plain and len(plain[0]) > 0
    assert Counting.calls < plain_calls
    assert cache.misses == 1 and cache.hits == len(readings) - 1


def test_other_bytes_in_the_table_are_decoded_not_taken_from_memory():
    cache = StateCache()
    readings = cgm_series([120, 110, 100, 90])
    state = None
    for r in readings[:3]:
        state = engine.process(state, r, r.received_at).state
    mine = engine.dump_state(state)
    cache.remember("p1", mine, state)
    assert cache.load("p1", bytes(mine)) is state  # equal bytes (say, restored from the changelog): same state
    other = engine.dump_state(engine.process(state, readings[3], readings[3].received_at).state)
    loaded = cache.load("p1", other)  # written by another worker before a rebalance
    assert loaded is not state and loaded == engine.load_state(other)
    assert cache.load("p1", None) is None
    assert (cache.hits, cache.misses) == (1, 2)


def test_the_cache_is_bounded_and_forgets_the_least_recently_used():
    cache = StateCache(size=2)
    states = {k: engine.initial(k) for k in ("a", "b", "c")}
    raws = {k: engine.dump_state(s) for k, s in states.items()}
    for k in ("a", "b"):
        cache.remember(k, raws[k], states[k])
    assert cache.load("a", raws["a"]) is states["a"]  # a is now the most recent
    cache.remember("c", raws["c"], states["c"])  # b goes
    assert cache.load("b", raws["b"]) is not states["b"]
    assert cache.load("a", raws["a"]) is states["a"] and cache.load("c", raws["c"]) is states["c"]
    cache.forget("a")
    assert cache.load("a", raws["a"]) is not states["a"]
