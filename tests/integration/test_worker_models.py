"""The real worker scores with the promoted registry model, and falls back to AR2 when none is promoted."""

from __future__ import annotations

from pathlib import Path

from monitor.records import Alert, from_json, to_json
from monitor.testing import cgm_series
from monitor.topics import ALERTS, READINGS, namespaced
from tests.integration.kafka_helpers import producer, read_topic
from tests.models.test_worker_path import FALL, handmade_store

FORECAST_KINDS = ("predicted_low", "urgent_low_soon")


def forecast_versions(bootstrap: str, namespace: str, make_worker, store: Path) -> set[str]:
    make_worker(namespace, vigil_model_store=str(store)).start()
    prod = producer(bootstrap)
    for reading in cgm_series(FALL, patient="pk_model_path"):
        prod.send(namespaced(READINGS, namespace), key=reading.patient_key.encode(), value=to_json(reading))
    prod.flush()
    prod.close()
    alerts = [from_json(v, Alert) for _, v in read_topic(bootstrap, namespaced(ALERTS, namespace), min_count=1,
                                                         settle_s=4.0)]
    return {a.explanation.model_version for a in alerts if a.kind in FORECAST_KINDS}


def test_worker_uses_the_promoted_model(kafka_bootstrap, namespace, make_worker, tmp_path):
    store = handmade_store(tmp_path / "model_store")
    assert forecast_versions(kafka_bootstrap, namespace, make_worker, store) == {"handmade-1"}


def test_worker_falls_back_to_ar2(kafka_bootstrap, namespace, make_worker, tmp_path):
    assert forecast_versions(kafka_bootstrap, namespace, make_worker, tmp_path / "empty") == {"nightscout-ar2-1"}
