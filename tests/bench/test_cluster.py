"""bench.cluster: a worker started under `--pin-worker` runs on the CPUs it was given; the broker's data folder."""

from __future__ import annotations

import os
import time

import pytest

from bench import cluster, paced_cost


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


def test_thread_cpu_names_the_first_thread_main_and_others_by_their_kernel_name(tmp_path):
    burn = ("import ctypes, threading, time\n"
            "def spin():\n"
            "    ctypes.CDLL(None).prctl(15, b'burner', 0, 0, 0)  # PR_SET_NAME, as librdkafka names its threads\n"
            "    end = time.process_time() + 0.3\n"
            "    while time.process_time() < end: pass\n"
            "    time.sleep(30)\n"
            "threading.Thread(target=spin, daemon=True).start()\n"
            "time.sleep(30)\n")
    worker = cluster.Worker("127.0.0.1:9", "ns", tmp_path / "w.log", command=("-c", burn)).start()
    try:
        assert worker.proc is not None
        used: dict[str, float] = {}
        for _ in range(100):
            used = worker.thread_cpu_s()
            if used.get("burner", 0.0) >= 0.2:
                break
            time.sleep(0.05)
        assert set(used) == {"main", "burner"}
        assert used["burner"] >= 0.2 > used["main"]  # the spinning thread, not the sleeping first one
    finally:
        assert worker.proc is not None
        worker.proc.kill()
        worker.proc.wait()


def test_per_thread_lists_microseconds_a_reading_busiest_first_and_leaves_out_idle_threads():
    before = {"main": 1.0, "rdk:main": 0.5, "idle": 0.2}
    after = {"main": 1.3, "rdk:main": 0.52, "idle": 0.2, "new": 0.01}
    assert paced_cost.per_thread(before, after, 10_000) == "main 30.0, rdk:main 2.0, new 1.0"


def test_jit_cpu_counts_only_the_jvms_compiler_threads():
    by_name = {"main": 4.0, "C2 CompilerThre": 2.5, "C1 CompilerThre": 0.5, "data-plane-kafk": 9.0,
               "ZWorker#0": 1.0}
    assert cluster.jit_cpu_s(by_name) == 3.0
    assert cluster.jit_cpu_s({"main": 1.0}) == 0.0


def test_a_runtime_variant_reads_its_runtime_and_comma_separated_settings():
    assert cluster.runtime_variant("runtime:rdkafka;VIGIL_SPIN_SECONDS=0.05,VIGIL_TXN_MIN_INTERVAL=0.01") == (
        "rdkafka", {"VIGIL_SPIN_SECONDS": "0.05", "VIGIL_TXN_MIN_INTERVAL": "0.01"})
    assert cluster.runtime_variant("runtime:batch") == ("batch", {})


def test_a_runtime_variant_with_a_value_the_worker_refuses_names_it_without_a_separator_hint():
    with pytest.raises(ValueError) as refused:
        cluster.runtime_variant("runtime:rdkafka;VIGIL_SPIN_BUSY=2")
    assert str(refused.value) == ("'runtime:rdkafka;VIGIL_SPIN_BUSY=2': VIGIL_SPIN_BUSY must be a share from 0 to 1, "
                                  "not '2'")


def test_the_broker_state_folder_is_made_under_the_root_it_is_given_and_removed_after(started_brokers, tmp_path):
    with cluster.broker(root=tmp_path):
        state = started_brokers[0]["state"]
        assert state.parent == tmp_path and state.is_dir()
    assert not state.exists()


def test_the_load_between_two_snapshots_gives_busy_and_stolen_shares_of_the_machine_and_each_process_cores():
    cores = os.cpu_count() or 1
    before = cluster.CpuSnapshot(busy_s=10.0, total_s=100.0, processes_s={"worker": 1.0}, stolen_s=0.5)
    after = cluster.CpuSnapshot(busy_s=10.0 + cores, total_s=100.0 + 2 * cores, processes_s={"worker": 1.5},
                                stolen_s=0.5 + 0.2 * cores)  # two wall seconds, half busy, a tenth stolen
    assert after.load_since(before) == pytest.approx({"machine_busy": 0.5, "machine_stolen": 0.1,
                                                      "worker_cores": 0.25})


def test_the_machine_cpu_seconds_read_now_hold_stolen_within_busy_within_total():
    busy, total, stolen = cluster.machine_cpu_s()
    assert 0 <= stolen <= busy <= total and total > 0
