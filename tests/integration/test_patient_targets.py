"""`vigil patient set-targets` on the real broker: the worker scores that patient against the new thresholds."""

from __future__ import annotations

import os
import subprocess
import sys

from monitor.records import Alert, from_json, to_json
from monitor.topics import ALERTS, READINGS, namespaced
from tests.integration.kafka_helpers import ROOT, producer, read_topic
from tests.integration.test_first_path import make_reading


def vigil(bootstrap: str, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_BOOTSTRAP": bootstrap, "VIGIL_NAMESPACE": namespace}
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_set_targets_then_72_is_a_low_for_that_patient_only(kafka_bootstrap, namespace, make_worker):
    tuned, default = make_reading("enrol-tgt-1", 0, 72.0), make_reading("enrol-tgt-2", 0, 72.0, device="cgm-2")
    done = vigil(kafka_bootstrap, namespace, "patient", "set-targets", tuned.patient_key, "--low", "75",
                 "--high", "220")
    assert done.returncode == 0, done.stderr
    assert "low=75" in done.stdout and "high=220" in done.stdout
    refused = vigil(kafka_bootstrap, namespace, "patient", "set-targets", tuned.patient_key, "--low", "230")
    assert refused.returncode == 2 and "low < high" in refused.stderr

    worker = make_worker(namespace).start()
    # The worker applied the config once its table changelog holds the patient's key: then send the readings.
    changelog = f"{namespace}.vigil-monitor-patient-config-changelog"
    applied = read_topic(kafka_bootstrap, changelog, min_count=1, settle_s=0.5, timeout_s=90)
    assert any(tuned.patient_key.encode() in (key or b"") for key, _ in applied)
    prod = producer(kafka_bootstrap)
    for r in (tuned, default):
        prod.send(namespaced(READINGS, namespace), key=r.patient_key.encode(), value=to_json(r))
    prod.flush()
    prod.close()
    alerts = [from_json(v, Alert) for _, v in read_topic(kafka_bootstrap, namespaced(ALERTS, namespace),
                                                          min_count=1, settle_s=3.0)]
    worker.stop()
    assert [(a.patient_key, a.kind) for a in alerts] == [(tuned.patient_key, "low")]
    assert alerts[0].explanation.thresholds == {"low_mgdl": 75.0}
    assert "below 75 mg/dL" in alerts[0].explanation.reason


def test_report_patient_reads_the_readings_topic(kafka_bootstrap, namespace):
    mine = [make_reading("enrol-rep-1", 5 * i, 60.0 if i < 29 else 120.0) for i in range(288)]
    other = [make_reading("enrol-rep-2", 5 * i, 300.0, device="cgm-9") for i in range(20)]
    prod = producer(kafka_bootstrap)
    for r in [*mine, *other, *mine[:40]]:  # plus a resend of the first 40
        prod.send(namespaced(READINGS, namespace), key=r.patient_key.encode(), value=to_json(r))
    prod.flush()
    prod.close()
    done = vigil(kafka_bootstrap, namespace, "report", "patient", "enrol-rep-1", "--days", "1")
    assert done.returncode == 0, done.stderr
    assert "288 glucose readings" in done.stdout and "data sufficiency 100.0 %" in done.stdout
    assert "time below 70" in done.stdout and "10.1 %" in done.stdout and "MISSED" in done.stdout
