"""The topic table follows the design's contract: names, keys, partitions, retention and compaction."""

from __future__ import annotations

import pytest

from monitor import topics


def by_name(namespace=None):
    return {spec.name: spec for spec in topics.contract(namespace)}


def test_contract_topics_and_keys():
    specs = by_name()
    assert {name: spec.key for name, spec in specs.items() if name in {
        topics.READINGS, topics.ALERTS, topics.ACKS, topics.NOTIFICATIONS, topics.DEADLETTER}} == {
        "vigil.readings.v1": "patient_key", "vigil.alerts.v1": "patient_key", "vigil.acks.v1": "patient_key",
        "vigil.notifications.v1": "alert_id", "vigil.deadletter.v1": "source"}


def test_patient_keyed_topics_share_a_partition_count():
    specs = by_name()
    counts = {spec.partitions for spec in specs.values() if spec.key == "patient_key"}
    assert counts == {12}


def test_config_topic_is_compacted_and_streams_expire():
    specs = by_name()
    assert specs[topics.PATIENT_CONFIG].config["cleanup.policy"] == "compact"
    assert specs[topics.READINGS].config == {"cleanup.policy": "delete", "retention.ms": str(30 * topics.DAY_MS)}


def test_namespace_prefixes_every_topic():
    assert set(by_name("study42")) == {f"study42.{name}" for name in by_name()}
    assert topics.namespaced("vigil.readings.v1", None) == "vigil.readings.v1"


@pytest.mark.parametrize(("raw", "key"), [(b'"pk_abc"', "pk_abc"), (b'"p\\u00e9"', "p\u00e9")])
def test_changelog_keys_are_faust_json_strings(raw, key):
    assert topics.key_of_changelog(raw) == key
    assert topics.key_of_changelog(topics.changelog_key(key)) == key


@pytest.mark.parametrize("raw", [b"", b"pk_abc", b"12", b'["pk"]'])
def test_a_changelog_key_that_is_no_json_string_is_refused(raw):
    with pytest.raises(ValueError):
        topics.key_of_changelog(raw)


# Kafka's own test vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2)
@pytest.mark.parametrize(("key", "want"), [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
])
def test_murmur2_is_kafkas(key, want):
    assert topics.murmur2(key) == want


def test_a_patient_key_lands_where_kafka_pythons_partitioner_puts_it():
    from kafka.partitioner.default import murmur2 as kafka_python_murmur2

    keys = [f"pk_{i:04x}" for i in range(300)] + ["", "a", "ab", "abc"]
    assert [topics.partition_of_key(k) for k in keys] == [
        (kafka_python_murmur2(k.encode()) & 0x7FFFFFFF) % topics.PARTITIONS for k in keys]
    assert len({topics.partition_of_key(k) for k in keys}) == topics.PARTITIONS  # a spread, not one hot partition
