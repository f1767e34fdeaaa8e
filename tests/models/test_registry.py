"""The model store: round trip, promote, and refusal of tampered, pickled or unknown files."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.baseline import AR2
from models.features import FEATURES, HORIZONS, context_from_frame
from models.forecast import ForecastModel, GBForecaster
from models.registry import (
    ModelLoadError,
    forecaster_for,
    load,
    load_promoted,
    promote,
    promoted_version,
    save,
    versions,
)


@pytest.fixture
def store(tmp_path: Path, small_model: ForecastModel) -> Path:
    save(small_model, tmp_path, data_hash="ab" * 32, metrics={"note": "test"})
    return tmp_path


def test_round_trip_predicts_the_same(store: Path, small_model: ForecastModel, small_frame: pd.DataFrame) -> None:
    loaded = load(store, "test-model-1")
    x = small_frame[list(FEATURES)].to_numpy()[:200]
    key = str(small_frame.patient_key.iloc[0])
    for h in HORIZONS:
        for k, v in small_model.predict(x, h, key).items():
            np.testing.assert_array_equal(loaded.predict(x, h, key)[k], v)
    assert set(loaded.corrections) == set(small_model.corrections)
    assert small_model.cgm_only is not None and loaded.cgm_only is not None
    assert loaded.cgm_only.version == "test-model-1/cgm"
    np.testing.assert_array_equal(loaded.cgm_only.predict(x, 30, key)["mean"],
                                  small_model.cgm_only.predict(x, 30, key)["mean"])


def test_list_and_promote(store: Path) -> None:
    assert promoted_version(store) is None and load_promoted(store) is None
    promote(store, "test-model-1")
    assert promoted_version(store) == "test-model-1"
    [entry] = versions(store)
    assert entry["promoted"] and entry["training_data_sha256"] == "ab" * 32
    assert entry["features"] == list(FEATURES)
    assert load_promoted(store) is not None


def test_refuses_to_overwrite_a_version(store: Path, small_model: ForecastModel) -> None:
    with pytest.raises(FileExistsError):
        save(small_model, store, data_hash="x")


def test_unknown_version_fails_clearly(store: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown model version 'nope'"):
        load(store, "nope")
    with pytest.raises(ModelLoadError, match="invalid model version name"):
        load(store, "../etc")
    with pytest.raises(ModelLoadError, match="unknown model version"):
        promote(store, "nope")


def test_tampered_npz_fails_on_hash(store: Path) -> None:
    path = store / "test-model-1" / "trees.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="SHA-256 does not match"):
        load(store, "test-model-1")


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_pickle_payload_is_never_executed(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with the manifest hash updated to match, an object array is refused, not unpickled."""
    monkeypatch.chdir(tmp_path)
    folder = store / "test-model-1"
    with np.load(folder / "trees.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["30_mean__value"] = np.array([Boom()], dtype=object)
    np.savez(folder / "trees.npz", allow_pickle=True, **arrays)
    manifest = json.loads((folder / "manifest.json").read_text())
    from models.registry import sha256_file

    manifest["files"]["trees.npz"] = sha256_file(folder / "trees.npz")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="not a plain numeric NPZ"):
        load(store, "test-model-1")
    assert not (tmp_path / "PWNED").exists()


def test_a_pickle_file_in_place_of_the_npz_is_refused(store: Path) -> None:
    folder = store / "test-model-1"
    (folder / "trees.npz").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ModelLoadError, match="SHA-256"):
        load(store, "test-model-1")


def test_malformed_manifest_and_wrong_features(store: Path) -> None:
    path = store / "test-model-1" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "features": ["g"]}))
    with pytest.raises(ModelLoadError, match="other features"):
        load(store, "test-model-1")
    path.write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load(store, "test-model-1")
    assert "error" in versions(store)[0]


def test_out_of_range_split_feature_is_refused(store: Path) -> None:
    folder = store / "test-model-1"
    with np.load(folder / "trees.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["60_p90__feature"] = arrays["60_p90__feature"] + 1000
    np.savez(folder / "trees.npz", **arrays)
    manifest = json.loads((folder / "manifest.json").read_text())
    from models.registry import sha256_file

    manifest["files"]["trees.npz"] = sha256_file(folder / "trees.npz")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="feature index outside"):
        load(store, "test-model-1")


def test_worker_choice_model_or_ar2_fallback(store: Path, small_cohort: pd.DataFrame) -> None:
    assert isinstance(forecaster_for(None, "pk_x"), AR2)
    model = load(store, "test-model-1")
    key = str(small_cohort.patient_key.iloc[0])
    chosen = forecaster_for(model, key)
    assert isinstance(chosen, GBForecaster)
    assert chosen.version == "test-model-1+personal"
    assert forecaster_for(model, "pk_unknown").version == "test-model-1"
    one = small_cohort[(small_cohort.patient_key == key) & (small_cohort.kind == "cgm")].iloc[:100]
    times = [t.to_pydatetime() for t in one.measured_at]
    now = times[-1] + timedelta(minutes=1)
    fc = chosen.forecast(times, one.value.tolist(), now)
    assert fc is not None and [p.minutes for p in fc.points] == list(range(5, 65, 5))
    assert fc.model_version == "test-model-1/cgm+personal"  # no context events: the CGM-only variant
    window = small_cohort[(small_cohort.patient_key == key) & (small_cohort.measured_at <= one.measured_at.iloc[-1])]
    with_context = chosen.forecast(times, one.value.tolist(), now, context_from_frame(window))
    assert with_context is not None and with_context.model_version == "test-model-1+personal"
    assert chosen.forecast(times, one.value.tolist(), times[-1] + timedelta(minutes=11)) is None


def test_worker_forecasters_promoted_model_or_ar2(tmp_path: Path, store: Path) -> None:
    from models.registry import worker_forecasters

    assert isinstance(worker_forecasters(tmp_path / "empty")("pk_a"), AR2)
    promote(store, "test-model-1")
    chosen = worker_forecasters(store)("pk_a")
    assert isinstance(chosen, GBForecaster) and chosen.version == "test-model-1"
    (store / "test-model-1" / "personal.json").write_text("{}")  # tampered after promotion
    with pytest.raises(ModelLoadError, match="SHA-256"):
        worker_forecasters(store)
