"""`python -m bench`: its options are checked before a broker starts."""

from __future__ import annotations

import pytest

from bench import __main__ as bench_main
from bench import cluster


@pytest.mark.parametrize("text", ["-1", "1.5", "2000000001"])
def test_a_cpu_latency_request_the_workers_would_refuse_is_refused_at_once(capsys, text):
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--cpu-latency-us", text])
    assert stopped.value.code == 2
    assert (f"VIGIL_CPU_LATENCY_US must be whole microseconds from 0 to 2000000000, not {text!r}"
            in capsys.readouterr().err)


def test_pin_worker_on_a_single_cpu_is_refused_at_once(capsys, monkeypatch):
    monkeypatch.setattr(bench_main.os, "sched_getaffinity", lambda pid: {0})
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--pin-worker", "--only", "latency"])
    assert stopped.value.code == 2
    assert "--pin-worker needs two CPUs" in capsys.readouterr().err


@pytest.mark.parametrize("parts", [[], ["--only", "raw", "worker"], ["--only", "scale"]])
def test_pin_worker_with_a_part_it_would_distort_is_refused_at_once(capsys, parts):
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--pin-worker", *parts])
    assert stopped.value.code == 2
    assert "--pin-worker is for one worker a part" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["0", "-2", "two"])
def test_saturation_runs_below_one_are_refused_at_once(capsys, text):
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--saturation-runs", text])
    assert stopped.value.code == 2
    assert f"must be a whole number of at least 1, not {text!r}" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["-1", "300001", "5.5", "soon"])
def test_a_clock_fetch_wait_librdkafka_would_refuse_is_refused_at_once(capsys, text):
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--only", "latency", "--clock-fetch-wait-ms", text])
    assert stopped.value.code == 2
    assert f"must be whole milliseconds from 0 to 300000, not {text!r}" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["num.io.threads", "=2", "Num.io.threads=2", "num.io.threads= ", "a b=1"])
def test_a_broker_property_not_written_as_key_equals_value_is_refused_at_once(capsys, text):
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--only", "latency", "--broker-property", text])
    assert stopped.value.code == 2
    assert f"must be a broker property as KEY=VALUE, e.g. num.io.threads=2, not {text!r}" in capsys.readouterr().err


def test_broker_properties_reach_the_benchs_broker(monkeypatch):
    started: list[dict[str, str] | None] = []

    class FakeKafka:
        def __init__(self, state, **_: object) -> None:
            self.state = state

        def up(self, extra_properties=None):
            started.append(extra_properties)
            return "127.0.0.1:1"

        def destroy(self) -> None:
            pass

    monkeypatch.setattr(cluster, "LocalKafka", FakeKafka)
    with cluster.broker(properties={"num.io.threads": "2"}):
        pass
    assert started == [{"num.io.threads": "2"}]
