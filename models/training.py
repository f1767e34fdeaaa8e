"""`vigil models train` and `evaluate`: cohort Parquet -> features -> versioned model -> held-out model card."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from models.card import write_card
from models.evaluate import METHODS, alert_policies, metrics_table, predictions, split_patients
from models.features import feature_frame
from models.forecast import (
    CGM_ONLY_SUFFIX,
    ForecastModel,
    fit_correction,
    neutralize,
    personal_scaling,
    train_population,
)
from models.registry import ModelLoadError, load, promoted_version, read_manifest, save, sha256_file, versions


def cohort_meta(data: Path) -> dict[str, object]:
    """The simulator's sidecar (seed, days, patients) if `vigil data simulate` wrote one."""
    side = data.with_suffix(data.suffix + ".json")
    try:
        meta = json.loads(side.read_text()) if side.is_file() else {}
    except ValueError:
        meta = {}
    return meta if isinstance(meta, dict) else {}


def train_from_parquet(data: Path, store: Path, *, holdout_per_group: int = 3, seed: int = 7,
                       version: str | None = None) -> Path:
    """Trains on every patient except `holdout_per_group` per subgroup; saves a new version."""
    started = time.perf_counter()
    data_hash = sha256_file(data)
    cohort = pd.read_parquet(data)
    frame = feature_frame(cohort)
    patients = frame[["patient_key", "subgroup"]].drop_duplicates()
    train_keys, test_keys = split_patients(patients, holdout_per_group, seed)
    train = frame[frame.patient_key.isin(train_keys)]
    features_s = time.perf_counter() - started
    mean, scale = personal_scaling(train)
    name = version or f"gb-{datetime.now(UTC):%Y%m%d%H%M%S}-{data_hash[:8]}"
    cgm_only = _fit_variant(neutralize(train), name + CGM_ONLY_SUFFIX, mean, scale, seed)
    model = replace(_fit_variant(train, name, mean, scale, seed), cgm_only=cgm_only)
    corrections = model.corrections
    held = patients[patients.patient_key.isin(test_keys)].subgroup.value_counts().sort_index().to_dict()
    total_s = time.perf_counter() - started
    return save(model, store, data_hash=data_hash, extra={
        "data_file": str(data), "data_seed": cohort_meta(data).get("seed"), "split_seed": seed,
        "held_out": held, "held_out_keys": sorted(test_keys), "n_train_patients": len(train_keys),
        "n_train_rows": len(train), "corrections_for": sorted(corrections),
        "timing_s": {"features": round(features_s, 1), "total": round(total_s, 1)},
    })


def _fit_variant(train: pd.DataFrame, name: str, mean: np.ndarray, scale: np.ndarray, seed: int) -> ForecastModel:
    """Population trees on `train`, then a guarded correction for every training patient with >= 3 days."""
    model = ForecastModel(name, train_population(train, seed=seed), mean, scale)
    corrections = {}
    for key, rows in train.groupby("patient_key", sort=True):
        corr = fit_correction(model, rows)
        if corr is not None:
            corrections[str(key)] = corr
    return replace(model, corrections=corrections)


def _pick_version(store: Path, version: str | None) -> str:
    if version:
        return version
    promoted = promoted_version(store)
    if promoted:
        return promoted
    found = [m for m in versions(store) if "error" not in m]
    if not found:
        raise ModelLoadError(f"no model versions in {store}; run `vigil models train` first")
    return str(found[-1]["version"])


def evaluate_version(data: Path, store: Path, version: str | None, out: Path) -> Path:
    """Scores the version's held-out patients against last value and AR2; writes the model card."""
    started = time.perf_counter()
    name = _pick_version(store, version)
    manifest = read_manifest(store, name)
    model = load(store, name)
    cohort = pd.read_parquet(data)
    held = set(manifest.get("held_out_keys", []))
    if sha256_file(data) != manifest.get("training_data_sha256"):
        print(f"vigil: note: {data} is not the training data of {name}; scoring its held-out keys found there")
    test = cohort[cohort.patient_key.isin(held)]
    if test.empty:
        raise ModelLoadError(f"none of {name}'s held-out patients are in {data}")
    rows = predictions(model, feature_frame(test))
    table = metrics_table(rows, [m for m in METHODS if f"{m}30" in rows.columns])
    policies = alert_policies(rows)
    timing = {"training": float(manifest.get("timing_s", {}).get("total", float("nan"))),
              "evaluation": time.perf_counter() - started}
    card = write_card(table, rows, manifest, out / name, timing, policies)
    table.to_csv(out / name / "metrics.csv", index=False)
    overall = table[table.subgroup == "overall"].set_index("method")
    manifest["metrics"] = {"overall": {f"rmse30_{m}": float(overall.loc[m, "rmse30"]) for m in overall.index}}
    (store / name / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return card
