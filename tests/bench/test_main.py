"""`python -m bench`: its options are checked before a broker starts."""

from __future__ import annotations

import argparse
import contextlib
import os
import types
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import cluster, workload


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


def _refused(option: str, message: str, *texts: str) -> list:
    return [pytest.param(option, text, message.format(text=text), id=f"{option} {text}") for text in texts]


@pytest.mark.parametrize(("option", "text", "message"), [
    *_refused("--saturation-runs", "must be a whole number of at least 1, not {text!r}", "0", "-2", "two"),
    *_refused("--clock-fetch-wait-ms", "must be whole milliseconds from 0 to 300000, not {text!r}",
              "-1", "300001", "5.5", "soon"),
    *_refused("--broker-property", "must be a broker property as KEY=VALUE, e.g. num.io.threads=2, not {text!r}",
              "num.io.threads", "=2", "Num.io.threads=2", "num.io.threads= ", "a b=1"),
    *_refused("--broker-heap", "must be a heap size such as 768m or 3g, not {text!r}",
              "0", "3 g", "3gb", "0.5g", "large"),
    *_refused("--broker-warmup-max-s", "must be whole seconds of at least 0, not {text!r}", "-1", "1.5", "long"),
    *_refused("--latency-seconds", "must be whole seconds from 1 to 3600, not {text!r}", "0", "3601", "1.5", "long"),
])
def test_an_option_value_the_bench_would_fail_on_later_is_refused_at_once(capsys, option, text, message):
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--only", "latency", f"{option}={text}"])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_broker_properties_and_heap_reach_the_benchs_broker(started_brokers):
    with cluster.broker(properties={"num.io.threads": "2"}):
        pass
    with cluster.broker(heap="768m"):
        pass
    assert [(b["heap"], b["properties"]) for b in started_brokers] == [
        (cluster.BROKER_HEAP, {"num.io.threads": "2"}), ("768m", None)]


class _WarmupFakes:
    """A broker whose compiler threads used `jit_per_round` cores in each round, and a measure() that only counts."""

    def __init__(self, monkeypatch, jit_per_round: list[float]) -> None:
        self.rounds: list[int] = []
        self.jit = 0.0
        self.jit_per_round = list(jit_per_round)
        self.now = 0.0

        @contextlib.contextmanager
        def workers(*_: object, **__: object):
            yield (types.SimpleNamespace(namespace="ns"),)

        def measure(bootstrap, readings_topic, alerts_topic, readings, rate, isolations=(), **_):
            self.rounds.append(len(readings))
            self.isolations = isolations
            self.now += 30.0
            self.jit += 30.0 * self.jit_per_round.pop(0)

        monkeypatch.setattr(cluster, "workers", workers)
        monkeypatch.setattr(cluster, "new_namespace", lambda boot: "ns")
        monkeypatch.setattr(cluster, "thread_cpu_s", lambda pid: {"C2 CompilerThre": self.jit, "main": 1.0})
        monkeypatch.setattr(bench_main.latency, "measure", measure)
        monkeypatch.setattr(bench_main.time, "monotonic", lambda: self.now)

    def run(self, most_s: float) -> dict:
        params = {"broker_warmup_s": 30.0, "broker_warmup_max_s": most_s, "clocks": ["read_committed"]}
        args = argparse.Namespace(feeder_linger_ms=20.0, clock_fetch_wait_ms=5)
        return bench_main.broker_warmup("127.0.0.1:1", 1, workload.patients(10), 100.0, params, None, args)


def test_the_broker_warmup_goes_on_until_the_jit_compiler_is_quiet(monkeypatch):
    fakes = _WarmupFakes(monkeypatch, [0.3, 0.2, 0.04, 0.01])
    warmup = fakes.run(most_s=360.0)
    assert len(fakes.rounds) == 3
    assert warmup["jit_cores"] == pytest.approx([0.3, 0.2, 0.04])
    assert warmup["quiet"] is True
    assert warmup["seconds"] == 90.0 and warmup["readings"] == sum(fakes.rounds)
    assert fakes.isolations == ("read_committed",)  # the clocks the measured runs use


def test_the_broker_warmup_stops_at_its_limit_and_says_the_compiler_was_not_quiet(monkeypatch):
    fakes = _WarmupFakes(monkeypatch, [0.3, 0.2, 0.2, 0.2])
    warmup = fakes.run(most_s=60.0)
    assert len(fakes.rounds) == 2
    assert warmup["quiet"] is False


@pytest.mark.parametrize(("spec", "says"), [
    ("txn10=runtime:rdkafka;VIGIL_SPIN_SECONDS=0.05;VIGIL_TXN_MIN_INTERVAL=0.01",
     "VIGIL_SPIN_SECONDS must be a number of seconds, not '0.05;VIGIL_TXN_MIN_INTERVAL=0.01' "
     "(settings are separated by commas)"),
    ("spin=runtime:rdkafka;VIGIL_SPIN_SECONDS", "'VIGIL_SPIN_SECONDS' in 'runtime:rdkafka;VIGIL_SPIN_SECONDS' "
     "is not ENV=value"),
    ("runtime:rdkafka", "expected NAME=VARIANT"),
])
def test_a_compare_variant_the_worker_would_refuse_is_refused_at_once(capsys, spec, says):
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--only", "latency", "--compare", spec])
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize("text", ["-1", "one", "0.5"])
def test_rehearsals_that_are_not_a_whole_count_are_refused_at_once(capsys, text):
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--rehearsals", text])
    assert stopped.value.code == 2
    assert f"must be whole runs of at least 0, not {text!r}" in capsys.readouterr().err


def test_the_rehearsals_come_first_and_only_at_the_first_load_share():
    params = {"load_shares": [0.5, 0.25], "rehearsals": 2, "runtime": "rdkafka", "commit_intervals": [None, 1.0]}
    compare = ["nospin=runtime:rdkafka;VIGIL_SPIN_SECONDS=0"]
    assert bench_main.latency_runs(0.5, params, compare) == [
        (None, None, "rehearsal 1 (not measured)"), (None, None, "rehearsal 2 (not measured)"),
        (None, None, "commit as configured"), (None, "runtime:rdkafka;VIGIL_SPIN_SECONDS=0", "variant nospin")]
    assert bench_main.latency_runs(0.25, params, compare) == [
        (None, None, "commit as configured"), (None, "runtime:rdkafka;VIGIL_SPIN_SECONDS=0", "variant nospin")]
    assert bench_main.latency_runs(0.5, {**params, "rehearsals": 0, "runtime": "faust"}, []) == [
        (None, None, "commit as configured"), (1.0, None, "commit 1 s")]


def test_a_broker_dir_that_is_not_a_folder_is_refused_at_once(capsys, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--only", "latency", "--broker-dir", str(tmp_path / "nowhere")])
    assert stopped.value.code == 2
    assert f"--broker-dir {tmp_path / 'nowhere'}: not a folder" in capsys.readouterr().err


def _fake_jcmd(tmp_path, monkeypatch, status: int) -> Path:
    """A jcmd on the PATH that records its arguments and exits with `status`."""
    called = tmp_path / "called"
    jcmd = tmp_path / "jcmd"
    jcmd.write_text(f"#!/bin/sh\necho \"$@\" > {called}\nexit {status}\n")
    jcmd.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    return called


def test_the_brokers_garbage_is_collected_through_jcmd(tmp_path, monkeypatch):
    called = _fake_jcmd(tmp_path, monkeypatch, 0)
    took = cluster.collect_broker_garbage(4242)
    assert took is not None and took >= 0
    assert called.read_text() == "4242 GC.run\n"


def test_a_failed_or_missing_jcmd_collects_nothing_and_says_so(tmp_path, monkeypatch):
    _fake_jcmd(tmp_path, monkeypatch, 1)
    assert cluster.collect_broker_garbage(4242) is None
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert cluster.collect_broker_garbage(4242) is None
