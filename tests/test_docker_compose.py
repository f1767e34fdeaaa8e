"""docker-compose.yml cannot run in CI; this keeps its broker settings and topics in step with the local setup."""

from __future__ import annotations

from pathlib import Path

import yaml

from monitor.kafka_local import BROKER_GC_FLAGS, KAFKA_VERSION, broker_properties

ROOT = Path(__file__).resolve().parents[1]
# Settings that name hosts, ports or paths differ between a container and 127.0.0.1 by design.
ADDRESSING = {"listeners", "advertised.listeners", "controller.quorum.voters", "log.dirs"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def local_properties() -> dict[str, str]:
    text = broker_properties(9092, 9093, Path("/data"))
    return dict(line.split("=", 1) for line in text.splitlines())


def test_kafka_image_is_the_pinned_version():
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_broker_settings_match_the_local_broker():
    env = compose()["services"]["kafka"]["environment"]
    from_compose = {k.removeprefix("KAFKA_").lower().replace("_", "."): v for k, v in env.items()
                    if k.startswith("KAFKA_") and not k.endswith("_OPTS")}  # JVM options, not properties
    local = local_properties()
    assert {k: v for k, v in from_compose.items() if k not in ADDRESSING} == \
        {k: v for k, v in local.items() if k not in ADDRESSING}
    assert set(from_compose) == set(local)


def test_broker_runs_on_the_local_brokers_collector():
    jvm = compose()["services"]["kafka"]["environment"]["KAFKA_JVM_PERFORMANCE_OPTS"].split()
    collector = [flag for flag in BROKER_GC_FLAGS if flag.startswith("-XX:+Use")]
    assert collector == ["-XX:+UseZGC"]
    assert [flag for flag in jvm if flag.startswith("-XX:+Use") and flag.endswith("GC")] == collector


def test_topics_come_from_the_same_contract_command():
    services = compose()["services"]
    assert services["topics"]["command"] == ["topics", "create"]
    assert services["worker"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["worker"]["environment"]["VIGIL_BOOTSTRAP"] == "kafka:9092"
