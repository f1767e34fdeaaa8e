"""The local broker's configuration, its PID handling and where a throwaway one keeps its data, without Java."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from monitor import kafka_local
from monitor.kafka_local import (
    BROKER_GC_FLAGS,
    LocalKafka,
    LocalKafkaError,
    broker_jvm_flags,
    broker_properties,
    ephemeral_range,
    free_port,
)


def test_single_node_kraft_properties(tmp_path):
    props = dict(line.split("=", 1) for line in broker_properties(9092, 9093, tmp_path).splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["log.dirs"] == str(tmp_path)
    assert props["auto.create.topics.enable"] == "false"


def test_broker_runs_on_zgc_then_the_operators_flags():
    assert broker_jvm_flags({}) == ("-XX:+UseZGC",)
    flags = broker_jvm_flags({"VIGIL_BROKER_JVM_OPTS": "-XX:-UseZGC -XX:+UseG1GC '-Xlog:gc:file=/tmp/a b.log'"})
    assert flags == (*BROKER_GC_FLAGS, "-XX:-UseZGC", "-XX:+UseG1GC", "-Xlog:gc:file=/tmp/a b.log")  # the last wins


def test_broker_command_carries_the_flags_before_its_main_class(tmp_path):
    command = LocalKafka(tmp_path)._java("kafka.Kafka", "server.properties", heap="1g", flags=BROKER_GC_FLAGS)
    assert command[:3] == ["java", "-Xmx1g", "-XX:+UseZGC"]
    assert "-XX:+UseG1GC" not in command  # two collectors chosen: the JVM would refuse to start
    assert LocalKafka(tmp_path)._java("kafka.tools.StorageTool")[:3] == ["java", "-Xmx256m", "-XX:+UseG1GC"]
    assert command[-2:] == ["kafka.Kafka", "server.properties"]


def test_down_without_broker_and_with_stale_pid_file(tmp_path):
    broker = LocalKafka(tmp_path, port=1, cache_dir=tmp_path / "cache")
    assert broker.down() is False
    tmp_path.joinpath("broker.pid").write_text("999999999")
    assert broker.pid() is None
    assert broker.down() is False
    assert not broker.pid_file.exists()


def test_pid_of_an_unrelated_process_is_never_ours(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        broker = LocalKafka(tmp_path, port=1, cache_dir=tmp_path / "cache")
        broker.pid_file.write_text(str(other.pid))
        assert broker.pid() is None
        broker.down()
        assert other.poll() is None, "down() must never signal a process that is not this broker"
    finally:
        other.kill()
        other.wait()


def test_missing_maven_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    broker = LocalKafka(tmp_path / "state", cache_dir=tmp_path / "cache")
    with pytest.raises(LocalKafkaError, match=r"java|Maven"):
        broker.fetch(echo=False)


def test_unreachable_registry_is_reported(tmp_path, monkeypatch):
    if not os.access("/usr/bin/mvn", os.X_OK) and not any(
            Path(p, "mvn").exists() for p in os.environ.get("PATH", "").split(":")):
        pytest.skip("maven not installed")
    settings = tmp_path / "settings.xml"
    settings.write_text("""<settings><offline>false</offline><localRepository>%s</localRepository><mirrors><mirror>
      <id>nowhere</id><mirrorOf>*</mirrorOf><url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>"""
                        % (tmp_path / "m2"))
    monkeypatch.setenv("VIGIL_MAVEN_ARGS", f"-s {settings}")
    broker = LocalKafka(tmp_path / "state", cache_dir=tmp_path / "cache")
    with pytest.raises(LocalKafkaError, match="Maven could not fetch"):
        broker.fetch(echo=False)


def test_a_free_port_is_picked_outside_the_ephemeral_range_and_never_twice():
    ports = [free_port((32768, 60999)) for _ in range(50)]
    assert all(10_000 <= p < 32768 or p > 60999 for p in ports)
    assert len(set(ports)) == len(ports)


def test_without_room_outside_the_ephemeral_range_the_kernel_picks():
    assert 1 <= free_port((1024, 65535)) <= 65535


def test_the_ephemeral_range_is_read_from_the_kernel_or_linux_default(tmp_path):
    (tmp_path / "range").write_text("40000\t50000\n")
    assert ephemeral_range(tmp_path / "range") == (40000, 50000)
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)


MOUNTS = """/dev/vda / ext4 rw,relatime,discard 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
proc /proc proc rw 0 0
/dev/vdb /data/kafka\\040logs xfs rw 0 0
"""


@pytest.mark.parametrize(("path", "kind"), [
    ("/dev/shm", "tmpfs"),
    ("/dev/shm/vigil-bench-kafka-x", "tmpfs"),
    ("/dev/shmother", "ext4"),  # a sibling whose name starts the same is not inside
    ("/tmp", "ext4"),
    ("/data/kafka logs/x", "xfs"),  # /proc/mounts writes a space as \040
])
def test_filesystem_of_takes_the_longest_mount_point_above_the_path(path, kind):
    assert kafka_local.filesystem_of(Path(path), MOUNTS) == kind


def test_a_throwaway_broker_keeps_its_data_in_memory_when_a_roomy_tmpfs_is_there(monkeypatch, tmp_path):
    monkeypatch.setattr(kafka_local, "filesystem_at", lambda path: "tmpfs" if path == tmp_path else "ext4")
    assert kafka_local.scratch_root(1, tmp_path) == tmp_path


@pytest.mark.parametrize("why", ["not tmpfs", "too small", "missing"])
def test_a_throwaway_broker_keeps_its_data_in_the_temporary_folder_otherwise(monkeypatch, tmp_path, why):
    monkeypatch.setattr(kafka_local, "filesystem_at", lambda path: "ext4" if why == "not tmpfs" else "tmpfs")
    candidate = tmp_path / "gone" if why == "missing" else tmp_path
    min_free = 1 << 62 if why == "too small" else 1
    assert kafka_local.scratch_root(min_free, candidate) == Path(tempfile.gettempdir())
