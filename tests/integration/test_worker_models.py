"""The real worker scores with the promoted registry model, and falls back to AR2 when none is promoted."""

from __future__ import annotations

from pathlib import Path

from models.registry import promote, save
from monitor.records import Alert, from_json, to_json
from monitor.testing import cgm_series
from monitor.topics import ALERTS, READINGS, namespaced
from tests.integration.kafka_helpers import producer, read_topic
from tests.models.test_worker_path import FALL

FORECAST_KINDS = ("predicted_low", "urgent_low_soon")


def handmade_store(path: Path) -> Path:
    """The same hand-made trees as tests/models/test_worker_path.py, saved and promoted in a registry folder."""
    import numpy as np

    from models.features import HORIZONS
    from models.forecast import PERSONAL_FEATURES, QUANTILES, ForecastModel
    from tests.models.test_worker_path import stump

    shift = {"p10": -10.0, "mean": 0.0, "p90": 10.0}
    trees = {(h, q): stump("dg_15", -15.0, -40.0 * h / 30 + shift[q], shift[q]) for h in HORIZONS for q in QUANTILES}
    n = len(PERSONAL_FEATURES)
    save(ForecastModel("handmade-1", trees, np.zeros(n), np.ones(n)), path, data_hash="0" * 64)
    promote(path, "handmade-1")
    return path


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
