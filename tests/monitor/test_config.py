"""Settings: the worker timing is read once from the environment, and a bad value is refused by name."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, Settings, WorkerTiming


def test_defaults_without_any_variable():
    assert Settings.from_env({}).timing == WorkerTiming()
    assert WorkerTiming().tick_s == 60.0 and WorkerTiming().slot is None
    assert WorkerTiming().cpu_latency_us is None  # no PM QoS request unless asked for


def test_every_timing_variable_is_read():
    env = {"VIGIL_TICK_SECONDS": "2", "VIGIL_COMMIT_INTERVAL": "0.1", "VIGIL_TXN_RETRY_BACKOFF": "0.005",
           "VIGIL_TXN_RETRY_BACKOFF_MAX": "0.02", "VIGIL_TXN_MAX_RECORDS": "0",
           "VIGIL_TXN_MIN_INTERVAL": "0", "VIGIL_FETCH_MIN_BYTES": "1",
           "VIGIL_FETCH_MAX_WAIT": "0.02", "VIGIL_TXN_TIMEOUT": "30", "BROKER_SESSION_TIMEOUT": "10",
           "BROKER_HEARTBEAT_INTERVAL": "1", "VIGIL_WORKER_SLOT": " w3 ", "VIGIL_STATE_WRITE_SECONDS": "0",
           "VIGIL_STATE_WRITE_RECORDS": "1000", "VIGIL_STATE_WRITE_PATIENTS": "50", "VIGIL_GC_SECONDS": "0",
           "VIGIL_GIL_SWITCH": "0.002", "VIGIL_CPU_LATENCY_US": " 20 ", "VIGIL_SPIN_SECONDS": "0.05",
           "VIGIL_SPIN_BUSY": "0.4", "VIGIL_POLL_RECORDS": "800", "VIGIL_RDKAFKA_STATS": "5",
           "VIGIL_LOOP_STATS": "1"}
    assert Settings.from_env(env).timing == WorkerTiming(
        tick_s=2.0, commit_interval_s=0.1, txn_retry_backoff_s=0.005, txn_retry_backoff_max_s=0.02,
        txn_max_records=0.0, txn_min_interval_s=0.0, fetch_min_bytes=1.0,
        fetch_max_wait_s=0.02, poll_records=800.0, txn_timeout_s=30.0,
        session_timeout_s=10.0, heartbeat_interval_s=1.0, state_write_s=0.0, state_write_records=1000.0,
        state_write_patients=50.0, gc_full_s=0.0, gil_switch_s=0.002, spin_s=0.05, spin_busy=0.4,
        rdkafka_stats_s=5.0, loop_stats_s=1.0, slot="w3", cpu_latency_us=20)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("VIGIL_TICK_SECONDS", "soon", "VIGIL_TICK_SECONDS must be a number of seconds, not 'soon'"),
    ("VIGIL_TXN_TIMEOUT", "0", "VIGIL_TXN_TIMEOUT must be a positive number of seconds, not '0'"),
    ("BROKER_SESSION_TIMEOUT", "-5", "BROKER_SESSION_TIMEOUT must be a positive number of seconds, not '-5'"),
    ("VIGIL_COMMIT_INTERVAL", "nan", "VIGIL_COMMIT_INTERVAL must be zero or more seconds, not 'nan'"),
    ("VIGIL_TXN_RETRY_BACKOFF", "-1", "VIGIL_TXN_RETRY_BACKOFF must be zero or more seconds, not '-1'"),
    ("VIGIL_FETCH_MAX_WAIT", "inf", "VIGIL_FETCH_MAX_WAIT must be zero or more seconds, not 'inf'"),
    ("VIGIL_STATE_WRITE_RECORDS", "many", "VIGIL_STATE_WRITE_RECORDS must be a number of records, not 'many'"),
    ("VIGIL_FETCH_MIN_BYTES", "0", "VIGIL_FETCH_MIN_BYTES must be a positive number of bytes, not '0'"),
    ("VIGIL_STATE_WRITE_PATIENTS", "-1", "VIGIL_STATE_WRITE_PATIENTS must be zero or more patients, not '-1'"),
    ("VIGIL_GIL_SWITCH", "0", "VIGIL_GIL_SWITCH must be a positive number of seconds, not '0'"),
    ("VIGIL_RDKAFKA_STATS", "-1", "VIGIL_RDKAFKA_STATS must be zero or more seconds, not '-1'"),
    ("VIGIL_LOOP_STATS", "0", "VIGIL_LOOP_STATS must be a positive number of seconds, not '0'"),
    ("VIGIL_SPIN_SECONDS", "-0.1", "VIGIL_SPIN_SECONDS must be zero or more seconds, not '-0.1'"),
    ("VIGIL_SPIN_BUSY", "1.5", "VIGIL_SPIN_BUSY must be a share from 0 to 1, not '1.5'"),
    ("VIGIL_SPIN_BUSY", "-0.5", "VIGIL_SPIN_BUSY must be a share from 0 to 1, not '-0.5'"),
    ("VIGIL_SPIN_BUSY", "nan", "VIGIL_SPIN_BUSY must be a share from 0 to 1, not 'nan'"),
    *[("VIGIL_CPU_LATENCY_US", text,
       f"VIGIL_CPU_LATENCY_US must be whole microseconds from 0 to 2000000000, not {text!r}")
      for text in ("-1", "1.5", "soon", "\u00b2", "2000000001")],
])
def test_a_bad_value_is_refused_naming_the_variable(name, text, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: text})
    assert str(caught.value) == message


def test_an_empty_value_means_the_default_and_pacing_may_be_off():
    assert Settings.from_env({"VIGIL_TICK_SECONDS": " "}).timing.tick_s == 60.0
    assert Settings.from_env({"VIGIL_COMMIT_INTERVAL": "0"}).timing.commit_interval_s == 0.0
