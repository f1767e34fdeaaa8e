"""`vigil worker`: the runtime from --runtime or VIGIL_WORKER_RUNTIME, an unknown one refused, faust ended."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitor import __main__ as cli
from monitor.config import Settings


@pytest.mark.parametrize(("env", "argv", "expected"), [
    (None, [], "rdkafka"),
    ("faust", [], "faust"),
    ("faust", ["--runtime", "batch"], "batch"),
])
def test_the_runtime_comes_from_the_flag_then_the_environment(monkeypatch, env, argv, expected):
    if env is None:
        monkeypatch.delenv("VIGIL_WORKER_RUNTIME", raising=False)
    else:
        monkeypatch.setenv("VIGIL_WORKER_RUNTIME", env)
    assert cli.build_parser().parse_args(["worker", *argv]).runtime == expected


def test_an_unknown_runtime_from_the_environment_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("VIGIL_WORKER_RUNTIME", "fast")
    args = cli.build_parser().parse_args(["worker"])
    assert cli._worker(args, Settings()) == 2
    assert "unknown runtime 'fast'" in capsys.readouterr().err


RUN_TO_EXIT = """
import sys, threading
from monitor.__main__ import run_to_exit

threading.Thread(target=threading.Event().wait, daemon=False).start()  # as mode's threads: never ends

def main():
    {body}

run_to_exit(main)
"""


@pytest.mark.parametrize(("body", "code", "said"), [
    pytest.param("raise RuntimeError('ProducerFenced')", 1, "the faust worker stopped with an error", id="crash"),
    pytest.param("sys.exit(3)", 3, "", id="exit-code"),
    pytest.param("return None", 0, "", id="returns"),
])
def test_the_faust_worker_process_ends_with_its_worker_whatever_threads_are_left(body, code, said):
    done = subprocess.run([sys.executable, "-c", RUN_TO_EXIT.format(body=body)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == code
    assert said in done.stderr


def test_a_cpu_latency_request_that_cannot_be_made_stops_the_worker_with_the_reason(monkeypatch, capsys, tmp_path):
    from monitor import cpu_latency
    from monitor.config import WorkerTiming

    monkeypatch.setattr(cpu_latency, "PM_QOS_PATH", tmp_path / "no-such-device")
    args = cli.build_parser().parse_args(["worker", "--runtime", "rdkafka"])
    assert cli._worker(args, Settings(timing=WorkerTiming(cpu_latency_us=0))) == 2
    assert "VIGIL_CPU_LATENCY_US=0 needs write access to" in capsys.readouterr().err


def _open_fds_of(path) -> int:
    import os

    return sum(os.path.realpath(f"/proc/self/fd/{fd}") == str(path) for fd in os.listdir("/proc/self/fd"))


def test_the_cpu_latency_request_is_held_while_the_runtime_runs_and_dropped_after(monkeypatch, tmp_path):
    import struct

    from monitor import batch_main, cpu_latency
    from monitor.config import WorkerTiming

    qos = tmp_path / "cpu_dma_latency"
    qos.touch()
    monkeypatch.setattr(cpu_latency, "PM_QOS_PATH", qos)
    seen: list[tuple[bytes, int]] = []

    def runtime(settings, loglevel):  # what the runtime finds: the request written, its file open
        seen.append((qos.read_bytes(), _open_fds_of(qos)))
        return 0

    monkeypatch.setattr(batch_main, "run_rdkafka_worker", runtime)
    args = cli.build_parser().parse_args(["worker", "--runtime", "rdkafka"])
    assert cli._worker(args, Settings(timing=WorkerTiming(cpu_latency_us=3))) == 0
    assert seen == [(struct.pack("=i", 3), 1)]
    assert _open_fds_of(qos) == 0
