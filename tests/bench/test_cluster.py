"""bench.cluster: a worker started under `--pin-worker` runs on the CPUs it was given."""

from __future__ import annotations

import os

import pytest

from bench import cluster


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one of them")
def test_a_worker_started_with_worker_cpus_runs_only_there(monkeypatch, tmp_path):
    last = max(os.sched_getaffinity(0))
    monkeypatch.setenv(cluster.WORKER_CPUS_ENV, str(last))
    worker = cluster.Worker("127.0.0.1:9", "ns", tmp_path / "w.log",
                            command=("-c", "import time; time.sleep(30)")).start()
    try:
        assert worker.proc is not None
        assert os.sched_getaffinity(worker.proc.pid) == {last}
        assert os.sched_getaffinity(0) != {last}  # the caller keeps its own
    finally:
        assert worker.proc is not None
        worker.proc.kill()
        worker.proc.wait()


def test_a_worker_started_without_worker_cpus_keeps_the_callers(monkeypatch, tmp_path):
    monkeypatch.delenv(cluster.WORKER_CPUS_ENV, raising=False)
    worker = cluster.Worker("127.0.0.1:9", "ns", tmp_path / "w.log",
                            command=("-c", "import time; time.sleep(30)")).start()
    try:
        assert worker.proc is not None
        assert os.sched_getaffinity(worker.proc.pid) == os.sched_getaffinity(0)
    finally:
        assert worker.proc is not None
        worker.proc.kill()
        worker.proc.wait()
